package agentcmd

import (
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/ports"
)

func reportListing(listeners ...[2]string) *finding.Report {
	rep := &finding.Report{}
	for _, l := range listeners {
		rep.Findings = append(rep.Findings, finding.Finding{ID: ports.IDListener, Status: finding.Fail,
			Evidence: finding.EvidenceOf(map[string]string{"protocol": l[0], "port": l[1]})})
	}
	return rep
}

// TestListenerWatch: a reported listener is watched while scans list it and
// dropped by the first scan after it closed; one no scan ever lists is given
// up after three.
func TestListenerWatch(t *testing.T) {
	w := newListenerWatch()
	if w.pending() {
		t.Fatal("pending before anything was reported")
	}
	w.add("tcp6", "10255") // the rule's tcp6 is the probe's tcp
	w.add("tcp", "")       // no port: nothing to watch
	w.scanned(reportListing([2]string{"tcp", "10255"}, [2]string{"udp", "10255"}))
	w.scanned(reportListing([2]string{"tcp", "10255"}))
	if !w.pending() {
		t.Fatal("an open listener is no longer watched")
	}
	w.scanned(reportListing([2]string{"udp", "10255"}))
	if w.pending() {
		t.Fatal("a closed listener is still watched")
	}
	w.add("tcp", "4444")
	for i := range 3 {
		if !w.pending() {
			t.Fatalf("given up after %d scans", i)
		}
		w.scanned(reportListing())
	}
	if w.pending() {
		t.Fatal("a listener no scan listed is still watched after three scans")
	}
	for i := range maxWatched + 10 {
		w.add("tcp", string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if len(w.open) != maxWatched {
		t.Errorf("%d listeners watched, want at most %d", len(w.open), maxWatched)
	}
}
