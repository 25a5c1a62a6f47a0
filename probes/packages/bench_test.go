package packages

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func liveEnv(b *testing.B) *probes.Env {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skip("not a dpkg host")
	}
	root, err := hostfs.Open("/")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	return &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
}

// BenchmarkColdScan is a first scan of this machine (every list parsed).
func BenchmarkColdScan(b *testing.B) {
	env := liveEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		p := &Probe{now: time.Now}
		p.Run(context.Background(), env)
	}
}

// BenchmarkRescan is a scan with unchanged files: the cache keyed by file
// identity answers after stat-ing the inputs.
func BenchmarkRescan(b *testing.B) {
	env := liveEnv(b)
	p := &Probe{now: time.Now}
	p.Run(context.Background(), env)
	b.ReportAllocs()
	for b.Loop() {
		p.Run(context.Background(), env)
	}
}
