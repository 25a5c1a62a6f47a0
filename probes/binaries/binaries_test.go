package binaries

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// runWithBundle runs the probe on the tree dir with packages.osvBundle set
// to bundle ("" for none).
func runWithBundle(t *testing.T, dir, bundle string) []finding.Finding {
	t.Helper()
	env := probetest.Env(t, dir, probes.Worker)
	if bundle != "" {
		pol, err := policy.Parse([]byte("packages:\n  osvBundle: "+bundle+"\n"), "test")
		if err != nil {
			t.Fatal(err)
		}
		env.Policy = pol
	}
	return (&Probe{}).Run(context.Background(), env)
}

// scanNode runs the probe on a copy of testdata/node judged against its
// bundle, with extra advisory files added to the bundle.
func scanNode(t *testing.T, extra map[string]string) []finding.Finding {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", "testdata/node/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	bundle := filepath.Join(dir, "var/lib/nodeguard/osv")
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(bundle, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return runWithBundle(t, dir, bundle)
}

// vulnerabilities sums ValueVulnerabilities by binary.
func vulnerabilities(t *testing.T, fs []finding.Finding) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, f := range fs {
		if f.Status != finding.Fail {
			continue
		}
		v, ok := f.Values[ValueVulnerabilities]
		if !ok {
			t.Errorf("failing finding without a typed count: %+v", f)
		}
		got[f.Evidence.Get("binary")] += v
	}
	return got
}

// TestVulnerabilityCounts: a binary's count is its distinct vulnerabilities,
// across its modules and across advisories that are aliases of each other.
func TestVulnerabilityCounts(t *testing.T) {
	fs := scanNode(t, nil)
	// containerd: GO-2024-2687 in golang.org/x/net and in the standard
	// library is one vulnerability; runc: GO-2024-2491 in runc and
	// GO-2024-2687 in the standard library are two.
	want := map[string]float64{"/usr/local/bin/containerd": 1, "/usr/local/sbin/runc": 2}
	if got := vulnerabilities(t, fs); len(got) != len(want) || got["/usr/local/bin/containerd"] != 1 || got["/usr/local/sbin/runc"] != 2 {
		t.Errorf("vulnerabilities by binary = %v, want %v", got, want)
	}
	// GitHub's record of CVE-2024-21626 beside the Go database's: the
	// message names both, the count stays the same.
	fs = scanNode(t, map[string]string{"GHSA-xr7r-f8xq-vfvv.json": `{"id": "GHSA-xr7r-f8xq-vfvv", "aliases": ["CVE-2024-21626"],
  "affected": [{"package": {"ecosystem": "Go", "name": "github.com/opencontainers/runc"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.1.12"}]}]}]}`})
	if got := vulnerabilities(t, fs); len(got) != len(want) || got["/usr/local/bin/containerd"] != 1 || got["/usr/local/sbin/runc"] != 2 {
		t.Errorf("with an alias record: vulnerabilities by binary = %v, want %v", got, want)
	}
	for _, f := range fs {
		if f.Evidence.Get("module") == "github.com/opencontainers/runc" && f.Evidence.Get("advisories") != "GHSA-xr7r-f8xq-vfvv,GO-2024-2491" {
			t.Errorf("runc advisories %q", f.Evidence.Get("advisories"))
		}
	}
}

// TestVulnerabilityCountNone: a bundle that affects nothing gives a typed 0,
// which exporters tell from "not judged".
func TestVulnerabilityCountNone(t *testing.T) {
	fs := runWithBundle(t, "testdata/node", t.TempDir())
	if len(fs) != 1 || fs[0].Status != finding.Pass {
		t.Fatalf("findings: %+v", fs)
	}
	if v, ok := fs[0].Values[ValueVulnerabilities]; !ok || v != 0 || fs[0].Evidence.Get(ValueVulnerabilities) != "0" {
		t.Errorf("pass finding: %+v", fs[0])
	}
	// Without a bundle nothing is counted: no value at all.
	fs = runWithBundle(t, "testdata/node", "")
	if _, ok := fs[0].Values[ValueVulnerabilities]; len(fs) != 1 || fs[0].Status != finding.Skip || ok {
		t.Errorf("without a bundle: %+v", fs)
	}
}
