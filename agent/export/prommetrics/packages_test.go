package prommetrics

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages"
)

const packagesFixtures = "../../../probes/packages/testdata/"

// scanPackages runs the real packages probe on a fixture, checks that every
// number the exporter reads came typed from the probe, and returns the
// exposition.
func scanPackages(t *testing.T, dir string) string {
	t.Helper()
	rep := scanTree(t, dir, packages.Name, policy.Default())
	checkTypedValues(t, rep)
	return expose(t, rep)
}

// scanTree scans the fixture tree dir with one probe, as a worker, at a
// fixed time.
func scanTree(t *testing.T, dir, probe string, pol *policy.Policy) *finding.Report {
	t.Helper()
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

// exportedValues lists, per finding id, the typed values packages.go reads.
var exportedValues = map[string][]string{
	packages.IDSecurityUpdates: {packages.ValueUpgradable, packages.ValueSecurity},
	packages.IDRebootRequired:  {packages.ValueRebootRequired},
	packages.IDInventory:       {packages.ValueListsAgeSeconds},
}

// checkTypedValues fails when the probe shows a number in its evidence that it
// did not also provide typed (the exporter would drop the metric), provides a
// typed value that disagrees with the evidence, or a typed value for an
// "unknown" one (the exporter would turn unknown into a number).
func checkTypedValues(t *testing.T, rep *finding.Report) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range rep.Findings {
		for _, k := range exportedValues[f.ID] {
			seen[f.ID] = true
			ev, hasEv := f.Evidence.Lookup(k)
			v, typed := f.Values[k]
			want, err := strconv.ParseFloat(ev, 64)
			if b, berr := strconv.ParseBool(ev); berr == nil {
				want, err = 0, nil
				if b {
					want = 1
				}
			}
			switch {
			case hasEv && err == nil && !typed:
				t.Errorf("%s: evidence %s=%q has no typed value", f.ID, k, ev)
			case typed && (err != nil || v != want):
				t.Errorf("%s: typed value %s=%v, evidence %q", f.ID, k, v, ev)
			}
		}
	}
	for id := range exportedValues {
		if !seen[id] {
			t.Errorf("the probe produced no %s finding", id)
		}
	}
}

func TestPackagesMetrics(t *testing.T) {
	got := scanPackages(t, packagesFixtures+"debian")
	for _, want := range []string{
		`nodeguard_packages_upgradable{security="true"} 3` + "\n",
		`nodeguard_packages_upgradable{security="false"} 5` + "\n",
		"nodeguard_reboot_required 1\n",
		"nodeguard_package_lists_age_seconds ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestPackagesMetricsUnknown: unknown counts and reboot state export no
// sample rather than a misleading 0.
func TestPackagesMetricsUnknown(t *testing.T) {
	// rpm without a metadata cache: pending updates unknown, lists age too.
	got := scanPackages(t, packagesFixtures+"rhel")
	for _, name := range []string{"nodeguard_packages_upgradable{", "nodeguard_package_lists_age_seconds "} {
		if strings.Contains(got, name) {
			t.Errorf("%s exported for an unknown value:\n%s", name, got)
		}
	}
	// A kernel that is not from a package: reboot requirement unknown.
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", packagesFixtures+"debian/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "proc/sys/kernel/osrelease"), []byte("6.18.44-custom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := scanPackages(t, dir); strings.Contains(got, "nodeguard_reboot_required ") {
		t.Errorf("nodeguard_reboot_required exported for an unknown value:\n%s", got)
	}
}

// TestPackagesMetricsSecurityUnknown: an Alpine host's upgradable count is
// exported with security="unknown", never split into a false 0.
func TestPackagesMetricsSecurityUnknown(t *testing.T) {
	got := scanPackages(t, packagesFixtures+"alpine")
	if !strings.Contains(got, `nodeguard_packages_upgradable{security="unknown"} 2`+"\n") || strings.Contains(got, `security="true"`) || strings.Contains(got, `security="false"`) {
		t.Errorf("unexpected samples:\n%s", got)
	}
	if !strings.Contains(got, "nodeguard_reboot_required 0\n") {
		t.Errorf("missing nodeguard_reboot_required 0:\n%s", got)
	}
}
