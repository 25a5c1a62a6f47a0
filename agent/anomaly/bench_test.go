package anomaly

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Overhead benchmarks (docs/benchmarks.md). Run as root:
//
//	go test -run '^$' -bench . -benchtime 20000x ./agent/anomaly/

func forkExec(b *testing.B, path string) {
	b.Helper()
	for i := 0; i < b.N; i++ {
		if err := exec.Command(path).Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "execs/s")
}

// BenchmarkForkExec runs fork/exec of /bin/true without and with every
// program attached; /bin/true matches no rule, so this is the cost the
// probes add to every exec and syscall on the node.
func BenchmarkForkExec(b *testing.B) {
	needRoot(b)
	b.Run("no-probes", func(b *testing.B) { forkExec(b, "/bin/true") })
	b.Run("probes", func(b *testing.B) {
		startDetector(b, Options{})
		b.ResetTimer()
		forkExec(b, "/bin/true")
	})
	// The kernel's own run-time statistics of each program: the in-kernel
	// cost per run, free of the fork/exec noise. A run of its own, since
	// the statistics slow every program down a little.
	b.Run("probes-kernel-stats", func(b *testing.B) {
		d := startDetector(b, Options{})
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			b.Skipf("BPF run-time statistics: %v", err)
		}
		defer stats.Close()
		before := programRunTime(d)
		b.ResetTimer()
		forkExec(b, "/bin/true")
		b.StopTimer()
		for name, after := range programRunTime(d) {
			if n := after[1] - before[name][1]; n > 0 {
				b.ReportMetric(float64(after[0]-before[name][0])/float64(n), name+"-ns/run")
			}
		}
	})
}

// programRunTime returns each attached program's total run time (ns) and
// run count, keyed by hook.
func programRunTime(d *Detector) map[string][2]uint64 {
	out := map[string][2]uint64{}
	d.mu.Lock()
	progs := append([]*ebpf.Program(nil), d.progs...)
	d.mu.Unlock()
	for _, p := range progs {
		info, err := p.Info()
		if err != nil {
			continue
		}
		st, err := p.Stats()
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(strings.TrimSuffix(info.Name, "_btf"), "_raw")] = [2]uint64{uint64(st.Runtime), st.RunCount}
	}
	return out
}

// BenchmarkExecEvents execs a copy of true from /tmp, so every exec is an
// event, as fast as this machine forks; it reports lost events.
func BenchmarkExecEvents(b *testing.B) {
	d := startDetector(b, Options{})
	dir, err := os.MkdirTemp("/tmp", "nodeguard-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "true")
	data, _ := os.ReadFile("/bin/true")
	os.WriteFile(bin, data, 0o755)
	ch, cancel := d.Subscribe(1 << 20)
	defer cancel()
	b.ResetTimer()
	forkExec(b, bin)
	b.StopTimer()
	got := drain(ch, b.N, func(e *Event) bool { return e.Path == bin })
	lost, _ := d.Lost()
	b.ReportMetric(float64(lost["exec"]), "lost")
	b.ReportMetric(float64(got), "delivered")
}

func drain(ch <-chan Event, want int, pred func(*Event) bool) int {
	got := 0
	idle := time.NewTimer(2 * time.Second)
	for got < want {
		select {
		case ev := <-ch:
			if pred(&ev) {
				got++
			}
		case <-idle.C:
			return got
		}
	}
	return got
}

// BenchmarkEventStorm has a helper make 200,000 bpf(BPF_PROG_LOAD) calls
// (each one an event) as fast as it can, with a small ring buffer so that
// drops happen; every event is either delivered or counted as lost, and the
// process's peak resident memory is reported.
func BenchmarkEventStorm(b *testing.B) {
	const storm = 200000
	for i := 0; i < b.N; i++ {
		d := startDetector(b, Options{RingBufferBytes: 256 << 10})
		before, _ := d.Lost()
		ch, cancel := d.Subscribe(1 << 18)
		// A copy: the agent's own executable is exempt from bpf-load.
		helper := exec.Command(selfCopy(b, tmpDir(b), "storm", 0o755, true), "-test.run=^$")
		helper.Env = append(os.Environ(), "NODEGUARD_STORM_HELPER="+strconv.Itoa(storm))
		if out, err := helper.CombinedOutput(); err != nil {
			b.Fatalf("storm helper: %v %s", err, out)
		}
		pid := uint32(helper.Process.Pid)
		got := drain(ch, storm, func(e *Event) bool { return e.PID == pid })
		cancel()
		after, _ := d.Lost()
		lost := after["sys_enter"] - before["sys_enter"]
		b.ReportMetric(float64(got), "delivered")
		b.ReportMetric(float64(lost), "lost")
		if uint64(got)+lost < storm {
			b.Errorf("%d events neither delivered (%d) nor counted lost (%d)", storm-got-int(lost), got, lost)
		}
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
		d.Close()
	}
}

func stormHelper(v string) int {
	n, _ := strconv.Atoi(v)
	for i := 0; i < n; i++ {
		unix.Syscall(unix.SYS_BPF, 5, 0, 0)
	}
	return 0
}

func peakRSSMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkListenToEvent measures listen() to the decoded event.
func BenchmarkListenToEvent(b *testing.B) {
	d := startDetector(b, Options{})
	ch, cancel := d.Subscribe(1024)
	defer cancel()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		start := time.Now()
		unix.Listen(fd, 1)
		sa, _ := unix.Getsockname(fd)
		port := strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
		for ev := range ch {
			if ev.Details["port"] == port {
				break
			}
		}
		total += time.Since(start)
		unix.Close(fd)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/listen")
}
