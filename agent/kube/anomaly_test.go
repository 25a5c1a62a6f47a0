package kube

import (
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func TestAnomalyWindow(t *testing.T) {
	type verdict struct {
		active bool
		msg    string
	}
	var got []verdict
	w := &AnomalyWindow{Window: 5 * time.Minute, MessageEvery: time.Minute,
		Set: func(active bool, _, msg string) { got = append(got, verdict{active, msg}) }}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Start()
	w.Match(t0, "module_load", finding.Medium, "below the bar")
	if len(got) != 1 || got[0].active {
		t.Fatalf("verdicts %+v, want only the initial False", got)
	}
	w.Match(t0, "shell_in_container", finding.High, "sh in default/web")
	for i := range 50 {
		w.Match(t0.Add(time.Duration(i)*time.Second), "shell_in_container", finding.High, "sh again")
	}
	if len(got) != 2 || !got[1].active {
		t.Fatalf("a burst made %d verdicts (%+v), want one True", len(got)-1, got)
	}
	w.Tick(t0.Add(30 * time.Second)) // message refresh not due yet
	w.Tick(t0.Add(90 * time.Second))
	if len(got) != 3 || !got[2].active || got[2].msg != "51 matches; latest: high rule shell_in_container matched: sh again" {
		t.Fatalf("refresh %+v", got)
	}
	w.Tick(t0.Add(49*time.Second + 5*time.Minute))
	if last := got[len(got)-1]; last.active {
		t.Fatalf("resolved %+v", got)
	}
}

func TestAnomalyWindowDefaultLasts15Minutes(t *testing.T) {
	var active []bool
	var quiet string
	w := &AnomalyWindow{Window: DefaultRuntimeAnomalyWindow, MessageEvery: time.Minute,
		Set: func(a bool, _, msg string) {
			active = append(active, a)
			if !a {
				quiet = msg
			}
		}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Start()
	w.Match(t0, "shell-in-container", finding.High, "sh in shop/web-0")
	w.Match(t0.Add(2*time.Minute), "shell-in-container", finding.Critical, "sh again")
	for m := 3; m < 17; m++ { // the window runs from the latest match
		w.Tick(t0.Add(time.Duration(m) * time.Minute))
	}
	if active[len(active)-1] != true {
		t.Fatalf("resolved 14 minutes after the last match: %v", active)
	}
	w.Tick(t0.Add(17 * time.Minute))
	if active[len(active)-1] != false {
		t.Fatalf("still active 15 minutes after the last match: %v", active)
	}
	if quiet != "no high or critical runtime rule matched in the last 15m0s" {
		t.Errorf("quiet message %q", quiet)
	}
}
