package manifests

import (
	"slices"
	"testing"

	_ "github.com/nodeguard/nodeguard/probes/all" // the checks' catalogue entries
	"github.com/nodeguard/nodeguard/probes/model/catalog"
)

// pagedOtherwise are the conditions whose alerts page on a metric of their
// own rather than on nodeguard_findings by probe.
var pagedOtherwise = map[string]string{
	"UnexpectedOpenPorts":    "NodeguardUnexpectedOpenPort",
	"SecurityUpdatesPending": "NodeguardSecurityUpdatesPending",
	"RuntimeAnomalyDetected": "NodeguardRuntimeAnomaly",
}

// TestConditionAlertsFollowCatalogue: every probe whose checks feed a node
// condition is in that condition's alert, and no other, so a probe that
// starts feeding a condition cannot go unpaged (go generate ./manifests
// writes the lists).
func TestConditionAlertsFollowCatalogue(t *testing.T) {
	rules := readFile(t, RulesFile)
	got := AlertProbes(rules)
	var names []string
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	for _, cond := range catalog.Conditions {
		want := catalog.Probes(cond)
		if alert, ok := pagedOtherwise[cond]; ok {
			if !slices.Contains(names, alert) {
				t.Errorf("condition %s: no alert %s", cond, alert)
			}
			continue
		}
		alert := ConditionAlert(cond)
		ps, ok := got[alert]
		switch {
		case !ok:
			t.Errorf("condition %s (fed by %v) has no alert %s selecting nodeguard_findings by probe", cond, want, alert)
		case !slices.Equal(ps, want):
			t.Errorf("alert %s selects probes %v; the catalogue's checks of %s come from %v: run go generate ./manifests", alert, ps, cond, want)
		}
	}
	// The generator leaves generated rules as they are.
	feeds := map[string][]string{}
	for _, cond := range catalog.Conditions {
		feeds[cond] = catalog.Probes(cond)
	}
	if again, err := SetConditionProbes(rules, feeds); err != nil || string(again) != string(rules) {
		t.Errorf("%s is not as go generate ./manifests writes it (err %v)", RulesFile, err)
	}
}

// TestSetConditionProbes: the selector is rewritten for the condition's
// alert only, and an alert by probe that no condition owns is refused.
func TestSetConditionProbes(t *testing.T) {
	in := []byte("      - alert: NodeguardX\n        expr: nodeguard_findings{probe=~\"b\", status=\"fail\"} > 0\n" +
		"      - alert: Other\n        expr: up == 0\n")
	out, err := SetConditionProbes(in, map[string][]string{"X": {"c", "a", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := AlertProbes(out)["NodeguardX"]; !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("got probes %v\n%s", got, out)
	}
	if _, err := SetConditionProbes(in, map[string][]string{"Y": {"a"}}); err == nil {
		t.Error("an alert by probe of no condition was accepted")
	}
}
