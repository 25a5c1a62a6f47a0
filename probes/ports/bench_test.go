package ports

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/hostfs"
	"github.com/nodeguard/nodeguard/agent/policy"
	"github.com/nodeguard/nodeguard/probes"
)

var (
	benchListenersOnce sync.Once
	benchListenersErr  error
)

// openListeners opens n loopback listeners once per test binary: the
// benchmark function runs several times and setup must not dominate profiles.
func openListeners(b *testing.B, n int) {
	b.Helper()
	benchListenersOnce.Do(func() {
		for i := 0; i < n; i++ {
			if _, err := net.Listen("tcp4", "127.0.0.1:0"); err != nil {
				benchListenersErr = err
				return
			}
		}
	})
	if benchListenersErr != nil {
		b.Fatal(benchListenersErr)
	}
}

func benchEnv(b *testing.B) *probes.Env {
	root, err := hostfs.Open("/")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	return &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
}

// BenchmarkScan10k is a cold scan (fresh probe, full owner walk) of this host
// with 10,000 extra listeners.
func BenchmarkScan10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	env := benchEnv(b)
	b.ResetTimer()
	for b.Loop() {
		if fs := (&Probe{}).Run(context.Background(), env); len(fs) < 10000 {
			b.Fatalf("%d findings", len(fs))
		}
	}
}

// BenchmarkRescan10k is the `nodeguard run` rescan with no socket change.
func BenchmarkRescan10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	env := benchEnv(b)
	p := &Probe{}
	p.Run(context.Background(), env)
	b.ResetTimer()
	for b.Loop() {
		if fs := p.Run(context.Background(), env); len(fs) < 10000 {
			b.Fatalf("%d findings", len(fs))
		}
	}
}

// BenchmarkParseTable measures parsing alone on the fixture tables.
func BenchmarkParseTable(b *testing.B) {
	line := []byte("   0: 0100007F:2808 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0")
	for b.Loop() {
		if _, ok, err := parseLine(line, "tcp", stateListen); !ok || err != nil {
			b.Fatal(err)
		}
	}
}
