package scan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

type fakeProbe struct {
	name string
	run  func() []finding.Finding
}

func (f fakeProbe) Name() string                                       { return f.name }
func (f fakeProbe) Run(context.Context, *probes.Env) []finding.Finding { return f.run() }

func TestPanickingProbeBecomesErrorFinding(t *testing.T) {
	root, err := hostfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sc := &Scanner{Root: root, Policy: policy.Default(), Log: zerolog.Nop(), Probes: []probes.Probe{
		fakeProbe{"boom", func() []finding.Finding { var m map[string]int; m["x"]++; return nil }},
		fakeProbe{"fine", func() []finding.Finding {
			return []finding.Finding{{ID: "fine.ok", Status: finding.Pass, Severity: finding.Info}}
		}},
	}}
	rep := sc.Scan(context.Background())
	if rep.Summary.Error != 1 || rep.Summary.Pass != 1 {
		t.Fatalf("summary %+v, findings %+v", rep.Summary, rep.Findings)
	}
	var boom finding.Finding
	for _, f := range rep.Findings {
		if f.Probe == "boom" {
			boom = f
		}
		if f.Probe == "fine" && f.References == nil {
			t.Error("findings are normalized: references [] not null")
		}
	}
	if boom.ID != "boom.internal" || !strings.Contains(boom.Message, "assignment to entry in nil map") {
		t.Fatalf("panic finding %+v", boom)
	}
	if rep.Role != string(probes.Worker) || rep.RoleReason == "" {
		t.Errorf("role %q %q on an empty host", rep.Role, rep.RoleReason)
	}
	if len(rep.Probes) != 2 || rep.Probes[0].Name != "boom" || rep.Probes[0].Errors != 1 {
		t.Errorf("probe runs %+v", rep.Probes)
	}
	if !rep.FailingAtOrAbove(finding.High) || rep.FailingAtOrAbove(finding.Critical) {
		t.Error("an error finding of severity high gates --fail-on high, not critical")
	}
}

// roleProbe records the role its Env gives.
type roleProbe struct{ seen *probes.Role }

func (roleProbe) Name() string { return "role" }
func (p roleProbe) Run(_ context.Context, env *probes.Env) []finding.Finding {
	*p.seen = env.NodeRole()
	return nil
}

// TestRoleIsDetectedWhenAsked: without a fixed role the probes detect it
// when they ask, and the report carries the same answer, asked or not; a
// fixed role is never detected.
func TestRoleIsDetectedWhenAsked(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/kubernetes/manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/kubernetes/manifests/kube-apiserver.yaml"), []byte("kind: Pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	quiet := fakeProbe{"quiet", func() []finding.Finding { return nil }}
	for _, tc := range []struct {
		name       string
		fixed      probes.Role
		ask        bool
		wantRole   probes.Role
		wantReason string
	}{
		{"detected, asked", "", true, probes.ControlPlane, "kube-apiserver.yaml exists"},
		{"detected, not asked", "", false, probes.ControlPlane, "kube-apiserver.yaml exists"},
		{"fixed", probes.Worker, true, probes.Worker, "--role flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen [2]probes.Role // two probes ask at once
			ps := []probes.Probe{quiet}
			if tc.ask {
				ps = append(ps, roleProbe{&seen[0]}, roleProbe{&seen[1]})
			}
			reason := ""
			if tc.fixed != "" {
				reason = "--role flag"
			}
			sc := &Scanner{Root: root, Policy: policy.Default(), Log: zerolog.Nop(), Probes: ps, Role: tc.fixed, RoleReason: reason}
			rep := sc.Scan(context.Background())
			if rep.Role != string(tc.wantRole) || !strings.Contains(rep.RoleReason, tc.wantReason) {
				t.Fatalf("report role %q (%q), want %q (%q)", rep.Role, rep.RoleReason, tc.wantRole, tc.wantReason)
			}
			if tc.ask && (seen[0] != tc.wantRole || seen[1] != tc.wantRole) {
				t.Fatalf("the probes saw roles %q, want %q", seen, tc.wantRole)
			}
		})
	}
}
