package sshd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// benchTree writes a host whose sshd_config includes 50 files holding 200
// Match blocks between them, with criteria of every kind.
func benchTree(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	d := filepath.Join(dir, "etc/ssh/sshd_config.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		b.Fatal(err)
	}
	var main strings.Builder
	main.WriteString("PermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&main, "Include sshd_config.d/%02d.conf\n", i)
		var inc strings.Builder
		for j := 0; j < 4; j++ {
			n := i*4 + j
			switch n % 5 {
			case 0:
				fmt.Fprintf(&inc, "Match User svc%d,!admin Address 10.%d.0.0/16\n", n, n%250)
			case 1:
				fmt.Fprintf(&inc, "Match Group team%d Host *.site%d.example.com\n", n, n)
			case 2:
				fmt.Fprintf(&inc, "Match LocalPort %d LocalAddress 192.0.2.%d\n", 2000+n, n%250)
			case 3:
				fmt.Fprintf(&inc, "Match Address 172.16.%d.0/24,!172.16.%d.128/25 User deploy%d\n", n%250, n%250, n)
			case 4:
				fmt.Fprintf(&inc, "Match Host bastion%d,jump%d User ops*\n", n, n)
			}
			fmt.Fprintf(&inc, "\tAllowTcpForwarding local\n\tX11Forwarding no\n\tMaxAuthTries %d\n", 1+n%4)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%02d.conf", i)), []byte(inc.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/ssh/sshd_config"), []byte(main.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// cpuTimer reports the process's CPU time per operation next to ns/op:
// on a shared, loaded machine wall time measures the neighbours too.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: cpuNow()}
}

func (c *cpuTimer) stop(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkEffective50Includes200Match is issue 3's speed target: one
// evaluation (both passes, 51 files read) of 50 includes and 200 Match blocks.
func BenchmarkEffective50Includes200Match(b *testing.B) {
	root := openRoot(b, benchTree(b))
	conn := ConnSpec{User: "root", Host: "h.example.com", Addr: "10.7.1.2", LocalAddr: "192.0.2.7", LocalPort: 22}
	cfg, err := Effective(root, "", conn)
	if err != nil {
		b.Fatal(err)
	}
	if len(cfg.Files) != 51 {
		b.Fatalf("read %d files", len(cfg.Files))
	}
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := Effective(root, "", conn); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkProbe50Includes200Match runs every sshd check on that tree,
// which evaluates the configuration once per reachable Match block.
func BenchmarkProbe50Includes200Match(b *testing.B) {
	env := &probes.Env{Root: openRoot(b, benchTree(b)), Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	p := &Probe{}
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if fs := p.Run(context.Background(), env); len(fs) < 12 {
			b.Fatalf("%d findings", len(fs))
		}
	}
	cpu.stop(b)
}

// BenchmarkProbeDebian is the probe on a default Debian node.
func BenchmarkProbeDebian(b *testing.B) {
	env := &probes.Env{Root: openRoot(b, "testdata/debian"), Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	p := &Probe{}
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		p.Run(context.Background(), env)
	}
	cpu.stop(b)
}
