package ports

import (
	"net/netip"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// BenchmarkJudge measures the verdict for one unexpected loopback listener:
// the worst case, as every rule is tried before it fails.
func BenchmarkJudge(b *testing.B) {
	pol := policy.Section[Policy](policy.Default(), Name)
	l := &listener{Socket: Socket{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 40000, Inode: 123456},
		Owners: []*Process{{PID: 4242, Name: "listeners", Exe: "/tmp/listeners"}}}
	b.ReportAllocs()
	fields := make([]finding.Field, 0, maxEvidenceKeys)
	for b.Loop() {
		f, rule := judge(pol, nil, probes.Worker, l)
		f.Evidence = appendEvidence(fields[:0], l, rule)
	}
}
