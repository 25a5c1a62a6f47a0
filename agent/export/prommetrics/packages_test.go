package prommetrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages"
)

func TestPackagesMetrics(t *testing.T) {
	root, err := hostfs.Open("../../../probes/packages/testdata/debian")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ps, err := probes.New([]string{packages.Name})
	if err != nil {
		t.Fatal(err)
	}
	sc := &scan.Scanner{Root: root, Policy: policy.Default(), Probes: ps, Node: "n", Role: probes.Worker,
		RoleReason: "test", Log: zerolog.Nop(), Now: func() time.Time { return time.Unix(1764000000, 0) }}
	rep := sc.Scan(context.Background())
	exp := New()
	exp.Update(rep)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	got := scrape(t, reg)
	for _, want := range []string{
		`nodeguard_packages_upgradable{security="true"} 3`,
		`nodeguard_packages_upgradable{security="false"} 5`,
		"nodeguard_reboot_required 1",
		"nodeguard_package_lists_age_seconds ",
	} {
		if !strings.Contains(got, want+"\n") && !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	promtoolCheck(t, got)
}

// TestPackagesMetricsUnknown: unknown counts and reboot state export no
// sample rather than a misleading 0.
func TestPackagesMetricsUnknown(t *testing.T) {
	rep := &finding.Report{ScannedAt: time.Unix(10, 0), Probes: []finding.ProbeRun{{Name: "packages"}},
		Findings: []finding.Finding{
			{ID: "packages.security-updates", Probe: "packages", Status: finding.Skip, Severity: finding.Info,
				Evidence: map[string]string{"upgradable": "unknown", "security": "unknown"}},
			{ID: "packages.reboot-required", Probe: "packages", Status: finding.Skip, Severity: finding.Info,
				Evidence: map[string]string{"required": "unknown"}},
		}}
	exp := New()
	exp.Update(rep)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	got := scrape(t, reg)
	for _, name := range []string{"nodeguard_packages_upgradable{", "nodeguard_reboot_required ", "nodeguard_package_lists_age_seconds "} {
		if strings.Contains(got, name) {
			t.Errorf("%s exported for an unknown value:\n%s", name, got)
		}
	}
}

// TestPackagesMetricsSecurityUnknown: an Alpine host's upgradable count is
// exported with security="unknown", never split into a false 0.
func TestPackagesMetricsSecurityUnknown(t *testing.T) {
	rep := &finding.Report{ScannedAt: time.Unix(10, 0), Probes: []finding.ProbeRun{{Name: "packages"}},
		Findings: []finding.Finding{
			{ID: "packages.security-updates", Probe: "packages", Status: finding.Fail, Severity: finding.Low,
				Evidence: map[string]string{"upgradable": "2", "security": "unknown"}},
		}}
	exp := New()
	exp.Update(rep)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	got := scrape(t, reg)
	if !strings.Contains(got, `nodeguard_packages_upgradable{security="unknown"} 2`) || strings.Contains(got, `security="true"`) || strings.Contains(got, `security="false"`) {
		t.Errorf("unexpected samples:\n%s", got)
	}
	promtoolCheck(t, got)
}
