package accounts

import (
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// BenchmarkProbe runs the whole probe on each fixture and on this machine.
func BenchmarkProbe(b *testing.B) {
	probetest.Bench(b, func() probes.Probe { return &Probe{} },
		"testdata/debian", "testdata/rhel", "testdata/hardened", "/")
}
