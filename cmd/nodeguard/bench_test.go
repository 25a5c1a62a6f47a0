package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// BenchmarkRunIdleRSS reports the resident memory of an idle `nodeguard run`
// on this host after a few scans (figure in docs/benchmarks.md). It is a
// measurement, not a pass/fail threshold.
func BenchmarkRunIdleRSS(b *testing.B) {
	for b.Loop() {
		addr := freePortB(b)
		cmd := exec.Command(binary, "run", "--listen", addr, "--interval", "1s", "--log-level", "error")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _ := getB("http://" + addr + "/readyz"); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				b.Fatal("agent not ready")
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(5 * time.Second) // a few rescans, then idle
		p, err := process.NewProcess(int32(cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		mem, err := p.MemoryInfo()
		cmd.Process.Kill()
		cmd.Wait()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(mem.RSS)/(1<<20), "MiB-rss")
	}
}
