// Package probetest runs probes over fixture host trees, for the probes'
// own tests and benchmarks.
package probetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// ModesFile is the manifest at a fixture tree's top that declares the modes,
// and optionally owners, some of its files must have: Git keeps no mode but
// the executable bit and no owner at all. One line per file, "path mode
// [uid:gid]", the path relative to the tree's top, the mode in octal; blank
// lines and lines starting with # are ignored. It is not copied itself.
const ModesFile = ".modes"

// CopyTree copies a fixture host tree with every file at mode 0644 and every
// directory at 0755 (a checkout's modes depend on the umask), keeping
// symlinks as they are, then applies the tree's ModesFile, and returns the
// copy's path. Tests that judge other file permissions set the modes they
// need on the copy.
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
		if rel == ModesFile {
			return nil
		}
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
	if err == nil {
		err = applyModes(t, filepath.Join(src, ModesFile), dst)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// applyModes sets the modes and owners the manifest at file declares on the
// copy at dst. Owners need root; without it they are left as they are (the
// ownership goldens run as root).
func applyModes(t testing.TB, file, dst string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for n, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s in %q", file, n+1, why, line) }
		if len(fields) > 3 {
			return bad("want \"path mode [uid:gid]\"")
		}
		rel := filepath.FromSlash(fields[0])
		if !filepath.IsLocal(rel) {
			return bad("path outside the tree")
		}
		mode, err := strconv.ParseUint(fields[1], 8, 32)
		if err != nil || mode > 0o7777 {
			return bad("mode is not octal")
		}
		p := filepath.Join(dst, rel)
		if err := os.Chmod(p, fs.FileMode(mode&0o777)|setBits(mode)); err != nil {
			return bad(err.Error())
		}
		if len(fields) < 3 {
			continue
		}
		u, g, ok := strings.Cut(fields[2], ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return bad("owner is not uid:gid")
		}
		if os.Geteuid() != 0 {
			t.Logf("%s: not root, so %s keeps its owner instead of %d:%d", file, fields[0], uid, gid)
			continue
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return bad(err.Error())
		}
	}
	return nil
}

// setBits maps the octal setuid, setgid and sticky bits to fs.FileMode's.
func setBits(mode uint64) fs.FileMode {
	var m fs.FileMode
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
