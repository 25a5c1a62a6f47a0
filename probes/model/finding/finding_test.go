package finding

import (
	"slices"
	"testing"
)

// TestFinalizeOrder: findings end up by probe then id, keeping each probe's
// own order within an id, whether they arrive sorted or not.
func TestFinalizeOrder(t *testing.T) {
	mk := func(probe, id, msg string) Finding { return Finding{Probe: probe, ID: id, Message: msg} }
	for _, in := range [][]Finding{
		{mk("a", "a.x", "1"), mk("a", "a.x", "2"), mk("a", "a.y", "3"), mk("b", "b.x", "4")},
		{mk("b", "b.x", "4"), mk("a", "a.y", "3"), mk("a", "a.x", "1"), mk("a", "a.x", "2")},
		{mk("a", "a.y", "3"), mk("b", "b.x", "4"), mk("a", "a.x", "1"), mk("a", "a.x", "2")},
	} {
		r := &Report{Findings: slices.Clone(in)}
		r.Finalize()
		var got []string
		for _, f := range r.Findings {
			got = append(got, f.Message)
			if f.References == nil || f.Evidence == nil {
				t.Errorf("finding %s not normalized", f.Message)
			}
		}
		if want := []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
			t.Errorf("order %v, want %v", got, want)
		}
	}
}

// TestFinal: Final holds exactly when Finalize would change nothing.
func TestFinal(t *testing.T) {
	ok := func(probe, id string) Finding {
		return Finding{Probe: probe, ID: id, References: []string{}, Evidence: Evidence{}}
	}
	noProbe, noRefs, noEvidence := ok("a", "a.x"), ok("a", "a.x"), ok("a", "a.x")
	noProbe.Probe, noRefs.References, noEvidence.Evidence = "", nil, nil
	for _, c := range []struct {
		fs   []Finding
		want bool
	}{
		{nil, true},
		{[]Finding{ok("a", "a.x"), ok("a", "a.x"), ok("a", "a.y"), ok("b", "b.x")}, true},
		{[]Finding{ok("b", "b.x"), ok("a", "a.x")}, false},
		{[]Finding{ok("a", "a.y"), ok("a", "a.x")}, false},
		{[]Finding{noProbe}, false},
		{[]Finding{noRefs}, false},
		{[]Finding{noEvidence}, false},
	} {
		if got := Final(c.fs); got != c.want {
			t.Errorf("Final(%v) = %v, want %v", c.fs, got, c.want)
		}
		if c.want {
			before := slices.Clone(c.fs)
			(&Report{Findings: c.fs}).Finalize()
			for i := range before {
				if before[i].Probe != c.fs[i].Probe || before[i].ID != c.fs[i].ID {
					t.Errorf("Finalize reordered findings Final accepted: %v", c.fs)
				}
			}
		}
	}
}

func TestSeverityCheck(t *testing.T) {
	for _, s := range []Severity{Critical, High, Medium, Low, Info} {
		if err := s.Check("x"); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	err := Severity("urgent").Check("checks.root-login.severity")
	if err == nil || err.Error() != `checks.root-login.severity "urgent": want critical, high, medium, low or info` {
		t.Errorf("unknown severity: %v", err)
	}
}

func TestStatusRankOrdersByAttention(t *testing.T) {
	order := []Status{Fail, Error, Skip, Pass}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() <= order[i].Rank() {
			t.Errorf("%s ranks %d, not above %s at %d", order[i-1], order[i-1].Rank(), order[i], order[i].Rank())
		}
	}
	if Status("unknown").Rank() != Pass.Rank() {
		t.Error("an unknown status ranks as pass")
	}
}
