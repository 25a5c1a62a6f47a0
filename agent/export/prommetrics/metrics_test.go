package prommetrics

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureReport scans the ports probe's worker fixture with a fixed clock and
// fixed durations, so the exposition is byte-for-byte stable.
func fixtureReport(t *testing.T) *finding.Report {
	t.Helper()
	root, err := hostfs.Open("../../../probes/ports/testdata/worker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	ps, err := probes.New([]string{ports.Name})
	if err != nil {
		t.Fatal(err)
	}
	sc := &scan.Scanner{Root: root, Policy: policy.Default(), Probes: ps, Node: "worker-node",
		Role: probes.Worker, RoleReason: "test", Log: zerolog.Nop(),
		Now: func() time.Time { return time.Unix(1764000000, 0) }}
	rep := sc.Scan(context.Background())
	for i := range rep.Probes {
		rep.Probes[i].DurationSeconds = 0.0125
	}
	return rep
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGoldenMetrics(t *testing.T) {
	exp := New()
	exp.Update(fixtureReport(t))
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	checkGolden(t, "testdata/worker.metrics", scrape(t, reg))
}

// expose publishes rep and returns /metrics, linted by promtool.
func expose(t *testing.T, rep *finding.Report) string {
	t.Helper()
	exp := New()
	exp.Update(rep)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	got := scrape(t, reg)
	promtoolCheck(t, got)
	return got
}

// checkGolden compares an exposition with a golden file (-update rewrites
// it), the Go version replaced, and lints it with promtool.
func checkGolden(t *testing.T, golden, exposition string) {
	t.Helper()
	got := strings.ReplaceAll(exposition, runtime.Version(), "GOVERSION")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("/metrics differs from %s (run with -update to accept):\n%s", golden, got)
	}
	promtoolCheck(t, got)
}

// wantLines fails for each sample line missing from an exposition.
func wantLines(t *testing.T, exposition string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(exposition, l+"\n") {
			t.Errorf("missing %q in:\n%s", l, exposition)
		}
	}
}

// TestCountersAccumulate checks the _total counters grow across scans while the
// gauges describe only the last one.
func TestCountersAccumulate(t *testing.T) {
	exp := New()
	rep := &finding.Report{ScannedAt: time.Unix(10, 0), Probes: []finding.ProbeRun{{Name: "x", Errors: 2}},
		Findings: []finding.Finding{{ID: "x.a", Probe: "x", Status: finding.Error, Severity: finding.High}}}
	exp.Update(rep)
	exp.Update(rep)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	out := scrape(t, reg)
	for _, want := range []string{
		`nodeguard_probe_errors_total{probe="x"} 4`,
		`nodeguard_scans_total 2`,
		`nodeguard_findings{condition="",probe="x",severity="high",status="error"} 1`,
		`nodeguard_findings{condition="",probe="x",severity="critical",status="fail"} 0`,
		`nodeguard_last_scan_timestamp_seconds 10`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// promtoolCheck lints an exposition with Prometheus's own promtool.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool (Debian package prometheus) is not installed")
		}
		t.Skip("promtool not installed; apt-get install prometheus")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(exposition))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
