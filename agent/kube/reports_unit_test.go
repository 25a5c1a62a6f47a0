package kube

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// fakeReports is the API as the report writer sees it, with a count of
// every call, so the tests can say exactly what each sync cost.
type fakeReports struct {
	mu      sync.Mutex
	served  bool
	uid     types.UID
	report  *v1alpha1.ClusterReport
	calls   map[string]int
	failing error  // returned by ApplyClusterReport while set
	onApply func() // called as an apply arrives, before it is answered
}

func newFakeReports() *fakeReports {
	return &fakeReports{served: true, uid: "uid-1", calls: map[string]int{}}
}

func (f *fakeReports) count(call string) {
	f.mu.Lock()
	f.calls[call]++
	f.mu.Unlock()
}

func (f *fakeReports) take() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = map[string]int{}
	return c
}

var crGroup = schema.GroupResource{Group: "openreports.io", Resource: "clusterreports"}

func (f *fakeReports) OpenReportsServed(context.Context) (bool, error) {
	f.count("discovery")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served, nil
}

func (f *fakeReports) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	f.count("getNode")
	f.mu.Lock()
	defer f.mu.Unlock()
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: f.uid}}, nil
}

func (f *fakeReports) GetClusterReport(_ context.Context, name string) (*v1alpha1.ClusterReport, error) {
	f.count("getReport")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.report == nil {
		return nil, apierrors.NewNotFound(crGroup, name)
	}
	return f.report.DeepCopy(), nil
}

func (f *fakeReports) ApplyClusterReport(_ context.Context, rep *v1alpha1.ClusterReport, _ string) (*v1alpha1.ClusterReport, error) {
	f.count("apply")
	if f.onApply != nil {
		f.onApply()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	if !f.served {
		return nil, apierrors.NewNotFound(crGroup, rep.Name)
	}
	f.report = rep.DeepCopy()
	return rep, nil
}

func scanWith(messages ...string) *finding.Report {
	rep := &finding.Report{Node: "node-a", Role: "worker", ScannedAt: time.Now()}
	for _, m := range messages {
		rep.Findings = append(rep.Findings, finding.Finding{ID: "ports.listener", Probe: "ports",
			Status: finding.Fail, Severity: finding.High, Title: "Unexpected listener", Message: m})
	}
	rep.Finalize()
	return rep
}

func newTestWriter(t *testing.T, api *fakeReports, reg prometheus.Registerer) *ReportWriter {
	t.Helper()
	w, err := NewReportWriter(ReportWriterOptions{Client: api, NodeName: "node-a", Log: zerolog.Nop(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func sync1(t *testing.T, w *ReportWriter, rep *finding.Report) (bool, error) {
	t.Helper()
	if rep != nil {
		w.Observe(rep)
	}
	return w.SyncOnce(context.Background())
}

func TestReportWriterWritesOnlyChanges(t *testing.T) {
	api := newFakeReports()
	reg := prometheus.NewPedanticRegistry()
	w := newTestWriter(t, api, reg)
	writes := func() float64 { return testutil.ToFloat64(w.writes.WithLabelValues(writeOK)) }

	// First scan: discovery, the report (none yet), the Node's UID, one apply.
	if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080")); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["discovery"] != 1 || c["getReport"] != 1 || c["getNode"] != 1 || c["apply"] != 1 {
		t.Errorf("first sync: calls %v", c)
	}
	if api.report == nil || api.report.OwnerReferences[0].UID != "uid-1" || len(api.report.Results) != 1 {
		t.Fatalf("report written: %+v", api.report)
	}
	// Ten scans that find the same: no request at all.
	for range 10 {
		if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080")); err != nil {
			t.Fatal(err)
		}
	}
	if c := api.take(); len(c) != 0 {
		t.Errorf("unchanged scans cost %v", c)
	}
	// A change: exactly one apply.
	if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080", "tcp 0.0.0.0:9090")); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["apply"] != 1 || len(c) != 1 {
		t.Errorf("changed scan: calls %v", c)
	}
	if writes() != 2 {
		t.Errorf("writes_total{written} = %v, want 2", writes())
	}
	// Nothing new observed: a sync is free.
	if _, err := w.SyncOnce(context.Background()); err != nil || len(api.take()) != 0 {
		t.Errorf("a sync without a scan: %v", err)
	}

	// A restarted agent reads the report and does not rewrite it.
	w2 := newTestWriter(t, api, nil)
	if _, err := sync1(t, w2, scanWith("tcp 0.0.0.0:8080", "tcp 0.0.0.0:9090")); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["apply"] != 0 || c["getReport"] != 1 {
		t.Errorf("restart with the same findings: calls %v", c)
	}

	// The Node registered again under a new UID: the report is rewritten,
	// owned by the new Node.
	api.uid = "uid-2"
	w2.NodeSeen(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: "uid-2"}})
	if _, err := w2.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if api.report.OwnerReferences[0].UID != "uid-2" || api.report.Scope.UID != "uid-2" {
		t.Errorf("owner after the Node came back: %+v", api.report.OwnerReferences)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

// TestReportWriterEdges: what a sync costs and keeps around a start, a
// failed write and a Node registered again while a write is on its way.
func TestReportWriterEdges(t *testing.T) {
	node := func(uid types.UID) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: uid}}
	}
	api := newFakeReports()
	w := newTestWriter(t, api, nil)

	// The condition manager read the Node first: no GET of its own.
	w.NodeSeen(node("uid-1"))
	if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080")); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["getNode"] != 0 || c["apply"] != 1 {
		t.Errorf("first sync after NodeSeen: calls %v", c)
	}

	// A failed write is retried with the apply alone.
	api.failing = apierrors.NewServiceUnavailable("busy")
	if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080", "tcp 0.0.0.0:9090")); err == nil {
		t.Fatal("want the apply's error")
	}
	api.failing = nil
	api.take()
	if _, err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["apply"] != 1 || len(c) != 1 {
		t.Errorf("retry after a 503: calls %v", c)
	}

	// The Node registered again while an apply was on its way: that apply
	// carried the old owner, so the next sync writes the report again.
	api.uid = "uid-2"
	api.onApply = func() { api.onApply = nil; w.NodeSeen(node("uid-2")) }
	if _, err := sync1(t, w, scanWith("tcp 0.0.0.0:8080")); err != nil {
		t.Fatal(err)
	}
	if got := api.report.OwnerReferences[0].UID; got != "uid-1" {
		t.Fatalf("the racing apply's owner %q, want uid-1", got)
	}
	if _, err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := api.report.OwnerReferences[0].UID; got != "uid-2" {
		t.Errorf("owner after the next sync %q, want uid-2", got)
	}

	// A restarted agent whose report is unchanged still says what it omits.
	var fs []string
	for i := range openreports.MaxResults + 3 {
		fs = append(fs, "tcp 0.0.0.0:"+strconv.Itoa(10000+i))
	}
	if _, err := sync1(t, w, scanWith(fs...)); err != nil {
		t.Fatal(err)
	}
	w2 := newTestWriter(t, api, nil)
	api.take()
	if _, err := sync1(t, w2, scanWith(fs...)); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); c["apply"] != 0 {
		t.Errorf("restart: calls %v", c)
	}
	if got := testutil.ToFloat64(w2.omitted); got != 3 {
		t.Errorf("omitted_results after a restart = %v, want 3", got)
	}
}

func TestReportWriterWithoutCRD(t *testing.T) {
	api := newFakeReports()
	api.served = false
	w := newTestWriter(t, api, nil)
	served, err := sync1(t, w, scanWith("x"))
	if err != nil || served {
		t.Fatalf("served %v, err %v", served, err)
	}
	if c := api.take(); c["discovery"] != 1 || c["apply"] != 0 || c["getReport"] != 0 {
		t.Errorf("calls %v", c)
	}
	if v := testutil.ToFloat64(w.servedGauge); v != 0 {
		t.Errorf("crd_served %v", v)
	}
	// The CRD is installed later: the next sync writes the pending scan.
	api.served = true
	served, err = w.SyncOnce(context.Background())
	if err != nil || !served || api.report == nil {
		t.Fatalf("after the CRD appeared: served %v, err %v, report %v", served, err, api.report != nil)
	}
	if v := testutil.ToFloat64(w.servedGauge); v != 1 {
		t.Errorf("crd_served %v", v)
	}
	// The CRD is removed under the agent: the write fails, and the next
	// sync asks discovery again instead of failing forever.
	api.served = false
	if _, err := sync1(t, w, scanWith("y")); err == nil {
		t.Error("a write without the CRD succeeded")
	}
	if served, err := w.SyncOnce(context.Background()); err != nil || served {
		t.Errorf("after the CRD went away: served %v, err %v", served, err)
	}
}

// TestReportWriterRun: failures retry on the backoff, and only the newest
// scan is written once the API server answers again.
func TestReportWriterRun(t *testing.T) {
	api := newFakeReports()
	clk := clocktesting.NewFakeClock(time.Now())
	w, err := NewReportWriter(ReportWriterOptions{Client: api, NodeName: "node-a", Log: zerolog.Nop(), Clock: clk,
		Backoff: wait.Backoff{Duration: time.Second, Factor: 2, Steps: 100, Cap: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	api.failing = apierrors.NewServiceUnavailable("etcd is down")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	w.Observe(scanWith("a"))
	waitFor(t, func() bool {
		api.mu.Lock()
		defer api.mu.Unlock()
		return api.calls["apply"] >= 1
	})
	// Scans during the backoff replace each other and write nothing.
	w.Observe(scanWith("b"))
	w.Observe(scanWith("c"))
	time.Sleep(50 * time.Millisecond)
	if n := api.take()["apply"]; n != 1 {
		t.Errorf("%d applies before the backoff ended, want 1", n)
	}
	api.mu.Lock()
	api.failing = nil
	api.mu.Unlock()
	waitFor(t, clk.HasWaiters)
	clk.Step(2 * time.Second)
	waitFor(t, func() bool {
		api.mu.Lock()
		defer api.mu.Unlock()
		return api.report != nil
	})
	api.mu.Lock()
	msg := api.report.Results[0].Description
	api.mu.Unlock()
	if msg != "c" {
		t.Errorf("wrote the scan saying %q, want the newest (c)", msg)
	}
	if got := testutil.ToFloat64(w.writes.WithLabelValues(writeFailed)); got != 1 {
		t.Errorf("writes_total{failed} = %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
