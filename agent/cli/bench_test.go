package cli

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"

	_ "github.com/nodeguard/nodeguard/probes/ports"
)

var listenersOnce sync.Once

// BenchmarkScanPorts10k is `nodeguard scan --only ports` in-process, against
// this host with 10,000 extra loopback listeners; the whole-process figure
// against ss is in docs/benchmarks.md.
func BenchmarkScanPorts10k(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to read every process's fds")
	}
	listenersOnce.Do(func() {
		for i := 0; i < 10000; i++ {
			if _, err := net.Listen("tcp4", "127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, out := range []string{"table", "json"} {
		b.Run(out, func(b *testing.B) {
			for b.Loop() {
				code := Main(context.Background(), []string{"scan", "--only", "ports", "--output", out, "--log-level", "error"},
					IO{Stdout: io.Discard, Stderr: io.Discard})
				if code == ExitUsage {
					b.Fatal("scan failed")
				}
			}
		})
	}
}
