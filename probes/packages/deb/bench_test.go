package deb

import (
	"os"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// BenchmarkScanLive is a cold scan of this machine's dpkg and apt state
// (compare: hyperfine 'apt list --upgradable').
func BenchmarkScanLive(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skip("not a dpkg host")
	}
	root, err := hostfs.Open("/")
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Scan(root, DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
}
