package agentcmd

import (
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func TestScanLoopHealthy(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	interval := 5 * time.Minute
	for _, tc := range []struct {
		since time.Duration
		want  bool
	}{
		{0, true},
		{interval, true},                 // the next scan is due
		{2*interval + time.Minute, true}, // the last moment still counted as progress
		{2*interval + time.Minute + 1, false},
		{time.Hour, false},
	} {
		if got := scanLoopHealthy(start.Add(tc.since), start, interval); got != tc.want {
			t.Errorf("%s after the last scan: healthy = %v, want %v", tc.since, got, tc.want)
		}
	}
}

func TestScanStatus(t *testing.T) {
	rep := &finding.Report{ScannedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))}
	rep.Summary = finding.Summary{Pass: 7, Fail: 2, Error: 1, Skip: 3}
	want := "last scan 2025-03-04T04:06:07Z: 2 fail, 1 error, 7 pass, 3 skip"
	if got := scanStatus(rep); got != want {
		t.Errorf("scanStatus = %q, want %q", got, want)
	}
}
