package prommetrics

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/binaries"
	"github.com/nodeguard/nodeguard/probes/model/finding"
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
	return scanTree(t, dir, probe, pol)
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
		if !typed || f.Evidence.Get(key) != strconv.FormatFloat(v, 'f', -1, 64) {
			t.Errorf("%s (%s): typed %s=%v (%v), evidence %q", f.ID, f.Status, key, v, typed, f.Evidence.Get(key))
		}
	}
}

func TestGoldenVulnerabilityMetrics(t *testing.T) {
	rep := vulnerabilityReport(t)
	checkVulnerabilityValues(t, rep)
	checkGolden(t, "testdata/vulnerabilities.metrics", expose(t, rep))
}

// TestVulnerabilityMetrics: what is counted. packages: openssl has DSA-5532-1
// (two CVEs, one advisory) and DSA-9001-1, zlib DLA-0001-1, and the malformed
// file of the bundle does not hide them. binaries: runc has GO-2024-2491 and,
// in its Go, GO-2024-2687; containerd has GO-2024-2687 in golang.org/x/net
// and in its Go, once.
func TestVulnerabilityMetrics(t *testing.T) {
	wantLines(t, expose(t, vulnerabilityReport(t)),
		`nodeguard_vulnerabilities{severity="high",source="packages"} 3`,
		`nodeguard_vulnerabilities{severity="critical",source="packages"} 0`,
		`nodeguard_vulnerabilities{severity="info",source="packages"} 0`,
		`nodeguard_vulnerabilities{severity="high",source="binaries"} 3`,
		`nodeguard_vulnerabilities{severity="low",source="binaries"} 0`,
	)
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
	wantLines(t, expose(t, rep),
		`nodeguard_vulnerabilities{severity="critical",source="binaries"} 3`,
		`nodeguard_vulnerabilities{severity="high",source="binaries"} 0`,
		`nodeguard_vulnerabilities{severity="high",source="packages"} 3`,
	)
}

// TestVulnerabilityMetricsNone: a bundle that affects nothing exports zeros;
// no bundle, or one that cannot be read, exports nothing: unknown is not 0.
func TestVulnerabilityMetricsNone(t *testing.T) {
	empty := t.TempDir()
	var zeros []string
	for _, sev := range finding.Severities {
		zeros = append(zeros, `nodeguard_vulnerabilities{severity="`+string(sev)+`",source="binaries"} 0`)
	}
	wantLines(t, expose(t, scanWithBundle(t, binariesFixture, binaries.Name, empty)), zeros...)
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
