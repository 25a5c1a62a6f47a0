package sockiter

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	var buf []byte
	want := []Record{{1, 3, 12345}, {4294967295, 0, 1 << 40}, {77, 1024, 9}}
	for _, r := range want {
		buf = binary.NativeEndian.AppendUint32(buf, r.PID)
		buf = binary.NativeEndian.AppendUint32(buf, r.FD)
		buf = binary.NativeEndian.AppendUint64(buf, r.Inode)
	}
	buf = append(buf, 1, 2, 3) // the start of a record the next read completes
	var got []Record
	rest := Decode(buf, func(r Record) { got = append(got, r) })
	if len(got) != len(want) {
		t.Fatalf("decoded %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if string(rest) != "\x01\x02\x03" {
		t.Errorf("rest = %q, want the 3 trailing bytes", rest)
	}
	if rest := Decode(nil, func(Record) { t.Error("record from no bytes") }); len(rest) != 0 {
		t.Errorf("rest of nothing = %q", rest)
	}
}

// TestReadFindsOwnSockets runs the real iterator: every socket this process
// holds must come back with the fd and inode /proc/self/fd shows.
func TestReadFindsOwnSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF and CAP_PERFMON) to load the iterator")
	}
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	want := map[uint32]uint64{} // fd → inode
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		fd, _ := strconv.ParseUint(e.Name(), 10, 32)
		ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
		want[uint32(fd)] = ino
	}
	if len(want) < 5 {
		t.Fatalf("/proc/self/fd shows %d sockets, want at least 5", len(want))
	}

	it, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	self := uint32(os.Getpid())
	got := map[uint32]uint64{}
	total := 0
	for range 2 { // a second read must walk again, not continue the first
		clear(got)
		total = 0
		if err := it.Read(func(r Record) {
			total++
			if r.PID == self {
				got[r.FD] = r.Inode
			}
		}); err != nil {
			t.Fatal(err)
		}
		for fd, ino := range want {
			if got[fd] != ino {
				t.Errorf("fd %d: iterator says inode %d, /proc/self/fd says %d", fd, got[fd], ino)
			}
		}
		if len(got) != len(want) {
			t.Errorf("iterator lists %d sockets of this process, /proc/self/fd %d", len(got), len(want))
		}
	}
	if total < len(want) {
		t.Errorf("%d records in all", total)
	}
}

// TestPermitted: an unprivileged user is refused before the kernel's BTF is
// parsed; with the capabilities, Open gets past the check.
func TestPermitted(t *testing.T) {
	it, err := Open()
	if os.Geteuid() != 0 {
		if !errors.Is(err, ErrNotPermitted) {
			t.Fatalf("Open as uid %d: %v, want ErrNotPermitted", os.Geteuid(), err)
		}
		return
	}
	if err != nil {
		if permitted() {
			t.Fatalf("Open as root: %v", err)
		}
		t.Skipf("root without CAP_BPF/CAP_PERFMON here: %v", err)
	}
	it.Close()
}

// TestReadInChildPIDNamespace runs TestReadFindsOwnSockets again in a new
// PID namespace (unshare --pid --fork --mount-proc), where this process is
// pid 1 and the iterator must report the numbers of that namespace, not the
// initial one's, and skip the processes outside it.
func TestReadInChildPIDNamespace(t *testing.T) {
	if os.Getenv("SOCKITER_IN_CHILD_NS") != "" {
		if os.Getpid() != 1 {
			t.Fatalf("pid %d in the new namespace, want 1", os.Getpid())
		}
		it, err := Open()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		pids := map[uint32]bool{}
		if err := it.Read(func(r Record) { pids[r.PID] = true }); err != nil {
			t.Fatal(err)
		}
		for pid := range pids {
			if pid != 1 {
				t.Errorf("pid %d reported: outside this namespace, or not its number here", pid)
			}
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to load the iterator and make a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", os.Args[0],
		"-test.run", "^(TestReadFindsOwnSockets|TestReadInChildPIDNamespace)$", "-test.v")
	cmd.Env = append(os.Environ(), "SOCKITER_IN_CHILD_NS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a new PID namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestReadFindsOwnSockets") {
		t.Fatalf("TestReadFindsOwnSockets did not run in the new namespace:\n%s", out)
	}
}

// BenchmarkOpen is what a one-shot `nodeguard scan` pays to use the
// iterator: read the kernel's BTF, assemble, load and attach (figure in
// docs/benchmarks.md).
func BenchmarkOpen(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load the iterator")
	}
	for b.Loop() {
		it, err := Open()
		if err != nil {
			b.Fatal(err)
		}
		it.Close()
	}
}
