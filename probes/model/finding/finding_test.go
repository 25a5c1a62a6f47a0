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
