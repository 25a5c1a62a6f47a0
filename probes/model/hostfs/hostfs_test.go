package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// tree builds a host tree whose symlinks try every way out of the root.
func tree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "host")
	outside = filepath.Join(base, "agent-secret")
	must(t, os.WriteFile(outside, []byte("agent's own file"), 0o600))
	must(t, os.MkdirAll(filepath.Join(root, "etc/ssh/sshd_config.d"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), []byte("Port 22\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=debian\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config.d/b.conf"), []byte("b"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config.d/a.conf"), []byte("a"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config.d/.hidden.conf"), []byte("h"), 0o644))
	// On the host, /etc/os-release -> /usr/lib/os-release: absolute, so it
	// must resolve to HOSTROOT/usr/lib/os-release, not the agent's file.
	must(t, os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release")))
	must(t, os.Symlink(outside, filepath.Join(root, "etc/abs-escape")))
	must(t, os.Symlink("../../../../../../agent-secret", filepath.Join(root, "etc/rel-escape")))
	must(t, os.Symlink("/../../agent-secret", filepath.Join(root, "etc/dotdot-escape")))
	must(t, os.Symlink("loop-b", filepath.Join(root, "etc/loop-a")))
	must(t, os.Symlink("loop-a", filepath.Join(root, "etc/loop-b")))
	must(t, os.Symlink("/", filepath.Join(root, "etc/rootlink")))
	must(t, syscall.Mkfifo(filepath.Join(root, "etc/fifo"), 0o644))
	return root, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAbsoluteSymlinkResolvesInsideRoot(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	b, err := r.ReadFile("/etc/os-release")
	must(t, err)
	if string(b) != "ID=debian\n" {
		t.Fatalf("read %q through the absolute symlink", b)
	}
	b, err = r.ReadFile("/etc/rootlink/etc/ssh/sshd_config")
	must(t, err)
	if string(b) != "Port 22\n" {
		t.Fatalf("read %q through a link to /", b)
	}
}

func TestSymlinksNeverLeaveRoot(t *testing.T) {
	dir, outside := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	for _, name := range []string{"/etc/abs-escape", "/etc/rel-escape", "/etc/dotdot-escape", "../agent-secret", "/../../agent-secret", "etc/../../agent-secret"} {
		b, err := r.ReadFile(name)
		if err == nil && strings.Contains(string(b), "agent's own file") {
			t.Fatalf("%s escaped the root to %s", name, outside)
		}
		if err == nil {
			t.Fatalf("%s: expected an error (no such file in the host tree), read %q", name, b)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: want not-exist, got %v", name, err)
		}
	}
}

func TestSymlinkLoopIsAnError(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	_, err = r.ReadFile("/etc/loop-a")
	if err == nil || !strings.Contains(err.Error(), "/etc/loop-a") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestFifoIsRefusedNotBlocking(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	_, err = r.ReadFile("/etc/fifo")
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
}

func TestReadLimit(t *testing.T) {
	dir, _ := tree(t)
	must(t, os.WriteFile(filepath.Join(dir, "etc/big"), make([]byte, 2048), 0o644))
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	if _, err := r.ReadFileLimit("/etc/big", 2048); err != nil {
		t.Fatalf("a file exactly at the limit must read: %v", err)
	}
	_, err = r.ReadFileLimit("/etc/big", 1024)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/etc/big") {
		t.Fatalf("want ErrTooLarge naming the file, got %v", err)
	}
}

func TestGlobLexicalSkipsHidden(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	got, err := r.Glob("/etc/ssh/sshd_config.d/*.conf")
	must(t, err)
	want := []string{"/etc/ssh/sshd_config.d/a.conf", "/etc/ssh/sshd_config.d/b.conf"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Glob = %v, want %v", got, want)
	}
	if got, _ := r.Glob("/etc/abs-escape"); len(got) != 1 {
		t.Fatalf("a dangling link is still a match, like glob(3): %v", got)
	}
}

func TestLstatAndReadlink(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	fi, err := r.Lstat("/etc/os-release")
	must(t, err)
	if fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat mode %v, want a symlink", fi.Mode())
	}
	target, err := r.Readlink("/etc/os-release")
	must(t, err)
	if target != "/usr/lib/os-release" {
		t.Fatalf("Readlink = %q", target)
	}
	fi, err = r.Stat("/etc/os-release")
	must(t, err)
	if !fi.Mode().IsRegular() {
		t.Fatalf("Stat mode %v, want regular", fi.Mode())
	}
	if uid, _, ok := Owner(fi); !ok || uid != uint32(os.Getuid()) {
		t.Fatalf("Owner = %d, %v", uid, ok)
	}
}

func TestProcMagicLinksAreReadNotFollowed(t *testing.T) {
	r, err := Open("/")
	must(t, err)
	defer r.Close()
	self := "/proc/" + itoa(os.Getpid())
	exe, err := r.Readlink(self + "/exe")
	must(t, err)
	if !strings.HasPrefix(exe, "/") {
		t.Fatalf("exe link %q", exe)
	}
	// Following /proc/<pid>/root would jump to another root: refused.
	if _, err := r.ReadFile(self + "/root/etc/hostname"); err == nil {
		t.Fatal("a magic link was followed")
	}
}

func TestOpenRejectsMissingRoot(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("want an error for a missing root")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestFallbackResolverAgrees runs the escape cases through the userspace
// resolver used on kernels without openat2.
func TestFallbackResolverAgrees(t *testing.T) {
	dir, _ := tree(t)
	r, err := Open(dir)
	must(t, err)
	defer r.Close()
	r.openat2Once.Do(func() {}) // leave openat2OK false
	b, err := r.ReadFile("/etc/os-release")
	must(t, err)
	if string(b) != "ID=debian\n" {
		t.Fatalf("fallback read %q", b)
	}
	for _, name := range []string{"/etc/abs-escape", "/etc/rel-escape", "/etc/dotdot-escape"} {
		if b, err := r.ReadFile(name); err == nil {
			t.Fatalf("fallback: %s escaped: %q", name, b)
		}
	}
	if _, err := r.ReadFile("/etc/fifo"); err == nil {
		t.Fatal("fallback: fifo opened")
	}
}
