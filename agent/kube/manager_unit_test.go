package kube

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// fakeAPI is one Node kept in memory, patched with the API server's own
// strategic merge, so the manager's logic is tested without an API server
// (TestManagerOnAPIServer runs the same logic against a real one).
type fakeAPI struct {
	mu      sync.Mutex
	node    *corev1.Node
	patches int
	events  []*eventsv1.Event
	fail    error // returned by every call while set
}

func newFakeAPI(name string, conds ...corev1.NodeCondition) *fakeAPI {
	return &fakeAPI{node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: conds}}}
}

func (f *fakeAPI) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return f.node.DeepCopy(), nil
}

func (f *fakeAPI) PatchNodeStatus(_ context.Context, name string, patch []byte, _ string) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	orig, err := json.Marshal(f.node)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(orig, patch, corev1.Node{})
	if err != nil {
		return nil, err
	}
	n := &corev1.Node{}
	if err := json.Unmarshal(patched, n); err != nil {
		return nil, err
	}
	f.node = n
	f.patches++
	return n.DeepCopy(), nil
}

func (f *fakeAPI) CreateEvent(_ context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev.DeepCopy())
	return ev, nil
}

func (f *fakeAPI) PatchEvent(_ context.Context, _, _ string, _ []byte) (*eventsv1.Event, error) {
	return nil, errors.New("fakeAPI: no event series")
}

func (f *fakeAPI) condition(t corev1.NodeConditionType) *corev1.NodeCondition {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.node.Status.Conditions {
		if f.node.Status.Conditions[i].Type == t {
			c := f.node.Status.Conditions[i]
			return &c
		}
	}
	return nil
}

func newUnitManager(t *testing.T, api *fakeAPI, clk *clocktesting.FakeClock) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Options{Client: api, NodeName: api.node.Name, Log: zerolog.Nop(), Registerer: reg,
		HeartbeatPeriod: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestManagerTransitionsAndHeartbeats(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	kubeletReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.NewTime(start.Add(-time.Hour)), LastTransitionTime: metav1.NewTime(start.Add(-time.Hour))}
	api := newFakeAPI("n1", kubeletReady)
	m, _ := newUnitManager(t, api, clk)
	ctx := context.Background()

	open := report([]string{"ports"}, fail("ports", "ports.listener", finding.High, "Unexpected open port", "TCP 0.0.0.0:4444"))
	m.Observe(open)
	next, err := m.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := api.condition(UnexpectedOpenPorts)
	if c == nil || c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(start) {
		t.Fatalf("UnexpectedOpenPorts after the first report: %+v", c)
	}
	if want := start.Add(time.Minute); !next.Equal(want) {
		t.Errorf("next heartbeat %s, want %s", next, want)
	}
	if got := api.condition(corev1.NodeReady); got == nil || got.Reason != "KubeletReady" || !got.LastHeartbeatTime.Time.Equal(start.Add(-time.Hour)) {
		t.Errorf("the kubelet's condition was touched: %+v", got)
	}

	// The same verdict before the heartbeat is due: no patch.
	clk.Step(30 * time.Second)
	m.Observe(open)
	if _, err := m.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if api.patches != 1 {
		t.Errorf("%d patches for an unchanged verdict before the heartbeat, want 1", api.patches)
	}

	// Heartbeat due: re-stamped, transition time kept.
	clk.Step(31 * time.Second)
	if _, err := m.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	c = api.condition(UnexpectedOpenPorts)
	if api.patches != 2 || !c.LastHeartbeatTime.Time.Equal(clk.Now()) || !c.LastTransitionTime.Time.Equal(start) {
		t.Errorf("after the heartbeat (%d patches): %+v", api.patches, c)
	}

	// The port closes: False, with a new transition time.
	clk.Step(10 * time.Second)
	m.Observe(report([]string{"ports"}))
	if _, err := m.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if c = api.condition(UnexpectedOpenPorts); c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Time.Equal(clk.Now()) {
		t.Errorf("after the port closed: %+v", c)
	}
}

func TestManagerCountsFailuresAndRecovers(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	api := newFakeAPI("n1")
	m, reg := newUnitManager(t, api, clk)
	ctx := context.Background()
	m.Observe(report([]string{"ports"}))

	api.fail = errors.New("connection refused")
	if _, err := m.SyncOnce(ctx); err == nil {
		t.Fatal("SyncOnce succeeded against a failing API")
	}
	if m.Ready() == nil {
		t.Error("ready while the conditions were never synced")
	}
	failures := 0.0
	for _, r := range syncErrorReasons {
		failures += testutil.ToFloat64(m.syncErrors.WithLabelValues(r))
	}
	if failures != 1 {
		t.Errorf("%v sync errors counted, want 1", failures)
	}

	api.fail = nil
	clk.Step(time.Second)
	if _, err := m.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(); err != nil {
		t.Errorf("not ready after a successful sync: %v", err)
	}
	if c := api.condition(UnexpectedOpenPorts); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("UnexpectedOpenPorts after recovery: %+v", c)
	}
	if n, err := testutil.GatherAndCount(reg, "nodeguard_kube_node_status_patches_total"); err != nil || n != 1 {
		t.Errorf("patches metric: %d series, %v", n, err)
	}
}
