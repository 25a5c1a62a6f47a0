package packages

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages/osv/osvtest"
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

// BenchmarkColdScanOSV100k is a first scan of this machine with a bundle of
// 100,000 synthetic records of realistic size (osvtest), one file each or
// one zip archive; every 50th names an installed source package. It reports
// the records read per second and the heap left once the load is done.
func BenchmarkColdScanOSV100k(b *testing.B) {
	env := liveEnv(b)
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		b.Fatal(err)
	}
	names := osvtest.DebianSources(f)
	f.Close()
	dir := b.TempDir()
	if err := osvtest.WriteDir(filepath.Join(dir, "osv"), 100000, names); err != nil {
		b.Fatal(err)
	}
	if err := osvtest.WriteZip(filepath.Join(dir, "all.zip"), 100000, names); err != nil {
		b.Fatal(err)
	}
	for _, bundle := range []string{"osv", "all.zip"} {
		b.Run(bundle, func(b *testing.B) {
			pol, err := policy.Parse([]byte("packages:\n  osvBundle: "+filepath.Join(dir, bundle)+"\n"), "bench")
			if err != nil {
				b.Fatal(err)
			}
			env.Policy = pol
			b.ReportAllocs()
			var p *Probe
			for b.Loop() {
				p = &Probe{now: time.Now}
				p.Run(context.Background(), env)
			}
			b.ReportMetric(100000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
			runtime.KeepAlive(p)
		})
	}
}
