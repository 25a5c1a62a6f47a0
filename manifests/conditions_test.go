package manifests

import (
	"slices"
	"testing"

	_ "github.com/nodeguard/nodeguard/probes/all" // the checks' catalogue entries
	"github.com/nodeguard/nodeguard/probes/model/catalog"
)

// pagedOtherwise are the conditions whose alerts page on a metric of their
// own rather than on nodeguard_findings by condition.
var pagedOtherwise = map[string]string{
	"UnexpectedOpenPorts":    "NodeguardUnexpectedOpenPort",
	"SecurityUpdatesPending": "NodeguardSecurityUpdatesPending",
	"RuntimeAnomalyDetected": "NodeguardRuntimeAnomaly",
}

// TestConditionAlertsFollowCatalogue: every node condition that checks feed
// has an alert, and a condition's alert selects its findings by the
// condition label the catalogue gives them, so a check that starts feeding
// a condition is paged with it.
func TestConditionAlertsFollowCatalogue(t *testing.T) {
	byAlert := AlertConditions(readFile(t, RulesFile))
	var names []string
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	for _, cond := range catalog.Conditions {
		if alert, ok := pagedOtherwise[cond]; ok {
			if !slices.Contains(names, alert) {
				t.Errorf("condition %s: no alert %s", cond, alert)
			}
			continue
		}
		alert := ConditionAlert(cond)
		if got, ok := byAlert[alert]; !ok || got != cond {
			t.Errorf("condition %s (fed by %v) needs an alert %s selecting nodeguard_findings{condition=%q}; it selects %q", cond, catalog.Probes(cond), alert, cond, got)
		}
	}
	for alert, cond := range byAlert {
		if !slices.Contains(catalog.Conditions, cond) {
			t.Errorf("alert %s selects condition %q, which no check feeds", alert, cond)
		}
	}
}
