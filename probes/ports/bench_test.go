package ports

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/bpf/sockiter"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

var (
	benchListenersOnce sync.Once
	benchListenersErr  error
	// benchListeners keeps the listeners reachable: the garbage collector
	// closes the fd of an unreachable one.
	benchListeners []net.Listener
)

// openListeners opens n loopback listeners once per test binary: the
// benchmark function runs several times and setup must not dominate profiles.
func openListeners(b *testing.B, n int) {
	b.Helper()
	benchListenersOnce.Do(func() {
		for i := 0; i < n; i++ {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				benchListenersErr = err
				return
			}
			benchListeners = append(benchListeners, l)
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

// BenchmarkOwnersIter10k and BenchmarkOwnersProcWalk10k time the two owner
// walks alone, process details excluded; BenchmarkOwnersIterLoad10k adds
// loading the iterator, as a one-shot `nodeguard scan` pays it.
func BenchmarkOwnersIter10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	it, err := sockiter.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	for b.Loop() {
		if _, err := iterOwners(it, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOwnersIterLoad10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	for b.Loop() {
		if _, err := (&Probe{}).iterOwners(nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOwnersProcWalk10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	env := benchEnv(b)
	for b.Loop() {
		if _, err := scanOwners(env.Root, nil); err != nil {
			b.Fatal(err)
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

// BenchmarkRescanChanged10k is a `nodeguard run` rescan after a listener
// opened: the owners are walked again, with the BPF iterator (loaded by the
// first rescan) or through /proc.
func BenchmarkRescanChanged10k(b *testing.B) {
	requireSS(b)
	openListeners(b, 10000)
	env := benchEnv(b)
	for _, iter := range []bool{true, false} {
		name := map[bool]string{true: "iter", false: "procwalk"}[iter]
		b.Run(name, func(b *testing.B) {
			p := &Probe{useIter: &iter}
			p.Run(context.Background(), env)
			rescan := func() {
				b.StopTimer()
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				fs := p.Run(context.Background(), env)
				b.StopTimer()
				l.Close()
				b.StartTimer()
				if len(fs) < 10000 {
					b.Fatalf("%d findings", len(fs))
				}
			}
			rescan() // loads the iterator
			for b.Loop() {
				rescan()
			}
			if iter && p.iter == nil {
				b.Fatal("the rescans did not use the iterator")
			}
		})
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
