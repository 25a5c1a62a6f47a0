package prommetrics

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/binaries"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages"
)

// scanWithBundle runs one probe on a fixture tree with packages.osvBundle
// set to bundle (relative to this package; "" for none).
func scanWithBundle(t *testing.T, dir, probe, bundle string) *finding.Report {
	t.Helper()
	pol := policy.Default()
	if bundle != "" {
		abs, err := filepath.Abs(bundle)
		if err != nil {
			t.Fatal(err)
		}
		if pol, err = policy.Parse([]byte("packages:\n  osvBundle: "+abs+"\n"), "test"); err != nil {
			t.Fatal(err)
		}
	}
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ps, err := probes.New([]string{probe})
	if err != nil {
		t.Fatal(err)
	}
	sc := &scan.Scanner{Root: root, Policy: pol, Probes: ps, Node: "n", Role: probes.Worker,
		RoleReason: "test", Log: zerolog.Nop(), Now: func() time.Time { return time.Unix(1764000000, 0) }}
	return sc.Scan(context.Background())
}

const binariesFixture = "../../../probes/binaries/testdata/node"

// vulnerabilityReport is the vulnerability findings of the packages probe on
// the Debian fixture and of the binaries probe on the Go binaries fixture,
// each judged against its tree's bundle, as one report with fixed durations.
func vulnerabilityReport(t *testing.T) *finding.Report {
	t.Helper()
	rep := &finding.Report{Node: "n", Role: "worker", ScannedAt: time.Unix(1764000000, 0)}
	for _, s := range []struct{ dir, probe, bundle string }{
		{packagesFixtures + "debian", packages.Name, packagesFixtures + "debian/var/lib/nodeguard/osv"},
		{binariesFixture, binaries.Name, binariesFixture + "/var/lib/nodeguard/osv"},
	} {
		r := scanWithBundle(t, s.dir, s.probe, s.bundle)
		for _, f := range r.Findings {
			if _, ok := vulnerabilityChecks[f.ID]; ok {
				rep.Findings = append(rep.Findings, f)
			}
		}
		for _, p := range r.Probes {
			p.DurationSeconds = 0.0125
			rep.Probes = append(rep.Probes, p)
		}
	}
	rep.Finalize()
	return rep
}

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

// checkVulnerabilityValues fails when a failing or passing finding of a
// vulnerability check has no typed count, or one its evidence disagrees
// with: the exporter reads the number, never the text.
func checkVulnerabilityValues(t *testing.T, rep *finding.Report) {
	t.Helper()
	for _, f := range rep.Findings {
		key, ok := vulnerabilityChecks[f.ID]
		if !ok || f.Status == finding.Error || f.Status == finding.Skip {
			continue
		}
		v, typed := f.Values[key]
		if !typed || f.Evidence[key] != strconv.FormatFloat(v, 'f', -1, 64) {
			t.Errorf("%s (%s): typed %s=%v (%v), evidence %q", f.ID, f.Status, key, v, typed, f.Evidence[key])
		}
	}
}

func TestGoldenVulnerabilityMetrics(t *testing.T) {
	rep := vulnerabilityReport(t)
	checkVulnerabilityValues(t, rep)
	got := strings.ReplaceAll(expose(t, rep), runtime.Version(), "GOVERSION")
	const golden = "testdata/vulnerabilities.metrics"
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
}

// TestVulnerabilityMetrics: what is counted. packages: openssl has DSA-5532-1
// (two CVEs, one advisory) and DSA-9001-1, zlib DLA-0001-1, and the malformed
// file of the bundle does not hide them. binaries: runc has GO-2024-2491 and,
// in its Go, GO-2024-2687; containerd has GO-2024-2687 in golang.org/x/net
// and in its Go, once.
func TestVulnerabilityMetrics(t *testing.T) {
	got := expose(t, vulnerabilityReport(t))
	for _, want := range []string{
		`nodeguard_vulnerabilities{severity="high",source="packages"} 3`,
		`nodeguard_vulnerabilities{severity="critical",source="packages"} 0`,
		`nodeguard_vulnerabilities{severity="info",source="packages"} 0`,
		`nodeguard_vulnerabilities{severity="high",source="binaries"} 3`,
		`nodeguard_vulnerabilities{severity="low",source="binaries"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestVulnerabilityMetricsPolicySeverity: the severity label is the
// findings', which the policy sets.
func TestVulnerabilityMetricsPolicySeverity(t *testing.T) {
	rep := vulnerabilityReport(t)
	for i := range rep.Findings {
		if rep.Findings[i].Status == finding.Fail && rep.Findings[i].Probe == binaries.Name {
			rep.Findings[i].Severity = finding.Critical
		}
	}
	got := expose(t, rep)
	for _, want := range []string{
		`nodeguard_vulnerabilities{severity="critical",source="binaries"} 3`,
		`nodeguard_vulnerabilities{severity="high",source="binaries"} 0`,
		`nodeguard_vulnerabilities{severity="high",source="packages"} 3`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestVulnerabilityMetricsNone: a bundle that affects nothing exports zeros;
// no bundle, or one that cannot be read, exports nothing: unknown is not 0.
func TestVulnerabilityMetricsNone(t *testing.T) {
	empty := t.TempDir()
	got := expose(t, scanWithBundle(t, binariesFixture, binaries.Name, empty))
	for _, sev := range finding.Severities {
		if want := `nodeguard_vulnerabilities{severity="` + string(sev) + `",source="binaries"} 0` + "\n"; !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, rep := range []*finding.Report{
		scanWithBundle(t, binariesFixture, binaries.Name, ""),
		scanWithBundle(t, packagesFixtures+"debian", packages.Name, ""),
		scanWithBundle(t, binariesFixture, binaries.Name, filepath.Join(empty, "missing")),
		scanWithBundle(t, packagesFixtures+"debian", packages.Name, filepath.Join(empty, "missing")),
	} {
		if got := expose(t, rep); strings.Contains(got, "nodeguard_vulnerabilities{") {
			t.Errorf("nodeguard_vulnerabilities exported for an unjudged source:\n%s", got)
		}
	}
}
