package release

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// A fixed table, so the verdicts do not move when the generated one does.
var fixedTable = []Minor{
	{Minor: 30, Released: "2024-04-17", Newest: "v1.30.14", NewestDate: "2025-06-18", EndOfSupport: "2025-07-15", Official: true},
	{Minor: 31, Released: "2024-08-13", Newest: "v1.31.14", NewestDate: "2025-11-12", EndOfSupport: "2025-11-11", Official: true},
	{Minor: 32, Released: "2024-12-11", Newest: "v1.32.13", NewestDate: "2026-02-27", EndOfSupport: "2026-02-28"},
}

func TestJudge(t *testing.T) {
	saved := table
	table = fixedTable
	defer func() { table = saved }()
	pol := policy.Section[Policy](policy.Default(), Name)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(12 * time.Hour) }
	for _, c := range []struct {
		version, now string
		status       finding.Status
		sev          finding.Severity
		says         string
	}{
		{"v1.32.13", "2025-12-01", finding.Pass, finding.Info, "is the newest patch release of v1.32"},
		{"v1.32.13", "2026-02-28", finding.Pass, finding.Info, "supported until 2026-02-28 (computed from the support policy)"},
		{"v1.32.13", "2026-03-01", finding.Fail, finding.High, "v1.32's support ended on 2026-02-28 (computed from the support policy"},
		{"v1.32.10-eks-1", "2025-12-01", finding.Fail, finding.Low, "is 3 patch releases behind v1.32.13 of 2026-02-27"},
		{"v1.30.14", "2025-12-01", finding.Fail, finding.High, "v1.30's support ended on 2025-07-15 (official"},
		{"v1.29.6", "2024-06-01", finding.Fail, finding.High, "older than every minor the release table"},
		{"v1.32.15", "2025-12-01", finding.Pass, finding.Info, "newer than v1.32.13, the newest patch the release table of " + TableDate + " knows: the table is older than the version"},
		{"v1.33.1", "2025-12-01", finding.Pass, finding.Info, "newer than every minor the release table of " + TableDate + " knows (newest v1.32): the table is older"},
		{"main", "2025-12-01", finding.Skip, finding.Info, "is not a Kubernetes version"},
	} {
		f := judge(catalog.Get(IDKubelet), pol, day(c.now), "kubelet", c.version)
		if f.Status != c.status || f.Severity != c.sev || !strings.Contains(f.Message, c.says) {
			t.Errorf("%s on %s: %s %s %q; want %s %s and %q", c.version, c.now, f.Status, f.Severity, f.Message, c.status, c.sev, c.says)
		}
		if f.Evidence.Get("tableDate") != TableDate || (f.Status != finding.Skip && !strings.Contains(f.Message, "release table of "+TableDate)) {
			t.Errorf("%s: the finding must give the table's date: %q %v", c.version, f.Message, f.Evidence)
		}
	}
}

// TestNodeStatusVersion: the Node's kubeletVersion is judged without
// reading the host, and the finding says where the version came from.
func TestNodeStatusVersion(t *testing.T) {
	env := probetest.Env(t, t.TempDir(), probes.Worker)
	env.KubeletVersion = "v1.19.3"
	fs := (&Probe{}).Run(context.Background(), env)
	if len(fs) != 2 || fs[0].ID != IDKubelet || fs[0].Status != finding.Fail || fs[0].Severity != finding.High ||
		fs[0].Evidence.Get("versionFrom") != "the Node's status.nodeInfo.kubeletVersion" || fs[1].Status != finding.Skip {
		t.Fatalf("got %+v", fs)
	}
}
