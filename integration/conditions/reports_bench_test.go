package conditions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/export/openreports/openreportstest"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// BenchmarkReportFleetLoad measures the per-node inputs of the OpenReports
// fleet figures in docs/benchmarks.md against a real kube-apiserver and
// etcd: NODEGUARD_BENCH_NODES simulated nodes (default 100), each with the
// agent's own report writer bound to the agent's ClusterRole, reporting
// what `nodeguard scan` finds on this machine (or the saved scan in
// NODEGUARD_BENCH_SCAN). It records the requests the
// API server counted (apiserver_request_total) for a first write, twelve
// unchanged scans and one change per node; the bytes of a report as the
// API server returns it (managedFields included); etcd's database in use
// per report; and the same for a node with 10,000 unexpected listeners
// (the size bound's case).
//
//	go test -run '^$' -bench ReportFleetLoad -benchtime 1x -timeout 20m ./integration/conditions/   (as root)
//	NODEGUARD_BENCH_NODES=500 NODEGUARD_BENCH_SCAN=scan.json go test -run '^$' -bench ReportFleetLoad -benchtime 1x -timeout 30m ./integration/conditions/
func BenchmarkReportFleetLoad(b *testing.B) {
	nodes := 100
	if s := os.Getenv("NODEGUARD_BENCH_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("NODEGUARD_BENCH_NODES=%q", s)
		}
		nodes = n
	}
	env := kubeenv.Start(b)
	env.InstallCRDs(b, openReportsCRDs()...)
	bin := buildAgent(b)
	admin := env.Client(b, env.Admin)
	applyRBAC(b, admin)
	agentClient, err := apiclient.New(env.RESTConfig(b, env.Kubeconfig(b, agentUser, "system:serviceaccounts")))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	// What this machine's scan finds, as the agent would report it, or a
	// saved scan (NODEGUARD_BENCH_SCAN: the JSON of nodeguard scan).
	var out []byte
	if f := os.Getenv("NODEGUARD_BENCH_SCAN"); f != "" {
		out, err = os.ReadFile(f)
	} else {
		out, err = exec.Command(bin, "scan", "--output", "json", "--log-level", "error").Output()
	}
	if len(out) == 0 {
		b.Fatalf("the scan: %v", err)
	}
	var scan finding.Report
	if err := json.Unmarshal(out, &scan); err != nil {
		b.Fatal(err)
	}

	writers := make([]*kube.ReportWriter, nodes)
	for i := range writers {
		name := fmt.Sprintf("fleet-%04d", i)
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		w, err := kube.NewReportWriter(kube.ReportWriterOptions{Client: agentClient, NodeName: name, Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		writers[i] = w
	}
	requests := func() map[string]float64 {
		body := env.Metrics(b)
		m := map[string]float64{}
		for _, verb := range []string{"APPLY", "GET", "LIST", "PATCH", "POST", "PUT"} {
			m[verb] = max(0, metric(body, "apiserver_request_total", `resource="clusterreports"`, `verb="`+verb+`"`))
		}
		m["nodes GET"] = max(0, metric(body, "apiserver_request_total", `resource="nodes"`, `subresource=""`, `verb="GET"`))
		return m
	}
	diff := func(a, c map[string]float64) string {
		var parts []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range c {
				if !yield(k) {
					return
				}
			}
		}) {
			if d := c[k] - a[k]; d != 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
			}
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	// A round is one scan per node, then each writer's sync, timed.
	round := func(change func(*finding.Report)) (time.Duration, time.Duration) {
		var took []time.Duration
		for _, w := range writers {
			rep := scan
			rep.Findings = slices.Clone(scan.Findings)
			rep.ScannedAt = time.Now()
			if change != nil {
				change(&rep)
			}
			w.Observe(&rep)
			start := time.Now()
			if _, err := w.SyncOnce(ctx); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		return took[len(took)/2], took[len(took)*99/100]
	}

	inUse0 := etcdInUse(b, env)
	r0 := requests()
	med, p99 := round(nil)
	r1 := requests()
	inUse1 := etcdInUse(b, env)
	b.Logf("first write, %d nodes: requests %s; sync median %s, p99 %s", nodes, diff(r0, r1), med.Round(time.Microsecond), p99.Round(time.Microsecond))
	for range 12 {
		round(nil)
	}
	r2 := requests()
	b.Logf("12 unchanged scans per node: requests %s", diff(r1, r2))
	med, p99 = round(func(r *finding.Report) {
		r.Findings = append(r.Findings, finding.Finding{ID: "packages.security-updates", Probe: "packages", Status: finding.Fail,
			Severity: finding.High, Title: "Security updates pending", Message: "1 security update pending: openssl"})
		r.Finalize()
	})
	r3 := requests()
	b.Logf("one change per node: requests %s; sync median %s, p99 %s", diff(r2, r3), med.Round(time.Microsecond), p99.Round(time.Microsecond))

	raw, err := admin.CoreV1().RESTClient().Get().AbsPath("/apis/openreports.io/v1alpha1/clusterreports/nodeguard-fleet-0000").DoRaw(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var stored struct {
		Results []json.RawMessage `json:"results"`
	}
	_ = json.Unmarshal(raw, &stored)
	b.Logf("report: %d findings, %d results, %d bytes as returned (JSON, managedFields included); etcd in use %+.0f bytes per report after the first write",
		len(scan.Findings), len(stored.Results), len(raw), float64(inUse1-inUse0)/float64(nodes))
	b.ReportMetric(float64(len(raw)), "bytes/report")
	b.ReportMetric(float64(inUse1-inUse0)/float64(nodes), "etcd-bytes/report")
	b.ReportMetric((r1["APPLY"]-r0["APPLY"])/float64(nodes), "applies/node-first")
	b.ReportMetric((r2["APPLY"]-r1["APPLY"])/float64(nodes), "applies/node-12-idle-scans")
	b.ReportMetric((r3["APPLY"]-r2["APPLY"])/float64(nodes), "applies/node-change")

	// The bound's case: 10,000 unexpected listeners on one node.
	big := openreportstest.Listeners("fleet-big", 10000)
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fleet-big"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	w, err := kube.NewReportWriter(kube.ReportWriterOptions{Client: agentClient, NodeName: "fleet-big", Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	before := etcdInUse(b, env)
	w.Observe(big)
	start := time.Now()
	if _, err := w.SyncOnce(ctx); err != nil {
		b.Fatalf("the 10,000-listener report was refused: %v", err)
	}
	took := time.Since(start)
	raw, err = admin.CoreV1().RESTClient().Get().AbsPath("/apis/openreports.io/v1alpha1/clusterreports/nodeguard-fleet-big").DoRaw(ctx)
	if err != nil {
		b.Fatal(err)
	}
	_ = json.Unmarshal(raw, &stored)
	b.Logf("10,000 listeners: %d results kept, %d bytes as returned, etcd in use %+d bytes, write %s",
		len(stored.Results), len(raw), etcdInUse(b, env)-before, took.Round(time.Millisecond))
	b.ReportMetric(float64(len(raw)), "bytes/bound-report")
}

// etcdInUse is etcd's logical database size in use, in bytes.
func etcdInUse(b *testing.B, env *kubeenv.Env) int64 {
	b.Helper()
	// Let the API server's writes land and etcd's bookkeeping settle.
	time.Sleep(time.Second)
	resp, err := http.Get(env.EtcdURL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return int64(metric(string(body), "etcd_mvcc_db_total_size_in_use_in_bytes"))
}
