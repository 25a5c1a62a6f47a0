package kmod

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/hostfs"
	"github.com/nodeguard/nodeguard/agent/policy"
	"github.com/nodeguard/nodeguard/probes"
)

// BenchmarkProbe runs the whole probe on each fixture and on this machine.
func BenchmarkProbe(b *testing.B) {
	for _, dir := range []string{"testdata/debian", "testdata/rhel", "testdata/hardened", "/"} {
		b.Run(dir, func(b *testing.B) {
			root, err := hostfs.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
			p := &Probe{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p.Run(ctx, env)
			}
		})
	}
}
