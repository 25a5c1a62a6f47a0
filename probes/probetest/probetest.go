// Package probetest runs probes over fixture host trees, for the probes'
// own tests and benchmarks.
package probetest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Env opens dir as the host root with the built-in policy; the root is
// closed when the test ends.
func Env(t testing.TB, dir string, role probes.Role) *probes.Env {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &probes.Env{Root: root, Policy: policy.Default(), Role: role, Log: zerolog.Nop()}
}

// Run runs p once over the host tree dir, judged as a worker.
func Run(t testing.TB, p probes.Probe, dir string) []finding.Finding {
	t.Helper()
	return p.Run(context.Background(), Env(t, dir, probes.Worker))
}

// Bench benchmarks one probe instance per host tree, so that caches kept
// between scans count as they do in `nodeguard run`.
func Bench(b *testing.B, newProbe func() probes.Probe, dirs ...string) {
	for _, dir := range dirs {
		b.Run(dir, func(b *testing.B) {
			env := Env(b, dir, probes.Worker)
			p := newProbe()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p.Run(ctx, env)
			}
		})
	}
}

// CopyTree copies a fixture host tree with every file at mode 0644 and every
// directory at 0755 (a checkout's modes depend on the umask), keeping
// symlinks as they are, and returns the copy's path. Tests that judge file
// permissions set the modes they need on the copy.
func CopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "host")
	CopyTreeTo(t, src, dst)
	return dst
}

// CopyTreeTo is CopyTree into a destination the test chooses.
func CopyTreeTo(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
