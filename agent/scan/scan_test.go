package scan

import (
	"context"
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
