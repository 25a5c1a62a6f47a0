package ports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/bpf/sockiter"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// ownerKey renders an inode → pids map in a comparable form.
func ownerKey(byInode map[uint64][]int) string {
	var lines []string
	for ino, ps := range byInode {
		ps = append([]int(nil), ps...)
		sort.Ints(ps)
		lines = append(lines, fmt.Sprint(ino, compactInts(ps)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestIterAgreesWithProcWalk is the differential test of the two owner
// walks: on this host, with the test's own sockets open, the BPF iterator and
// the /proc/<pid>/fd walk map every socket inode to the same pids. Other
// processes may open or close sockets meanwhile, so a comparison counts only
// when two /proc walks around the iterator agree.
func TestIterAgreesWithProcWalk(t *testing.T) {
	root := liveHost(t)
	if !sharesPIDNS(root) {
		t.Skip("this test's /proc is not its PID namespace's")
	}
	it := openIter(t)
	for attempt := 0; attempt < 10; attempt++ {
		before, err := scanOwners(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := iterOwners(it, nil)
		if err != nil {
			t.Fatal(err)
		}
		after, err := scanOwners(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Some processes refuse readlink on their fds even to root (here: a
		// sandbox's pid 1); the iterator is not subject to that check.
		denied := deniedPIDs(t, root)
		if len(denied) != before.denied {
			continue
		}
		for ino, ps := range got.byInode {
			ps = slices.DeleteFunc(ps, func(pid int) bool { return denied[pid] })
			if len(ps) == 0 {
				delete(got.byInode, ino)
			} else {
				got.byInode[ino] = ps
			}
		}
		want := ownerKey(before.byInode)
		if want != ownerKey(after.byInode) {
			continue
		}
		if g := ownerKey(got.byInode); g != want {
			t.Fatalf("iterator and /proc walk disagree\niterator:\n%s\n/proc:\n%s", g, want)
		}
		mine := 0
		for _, ps := range got.byInode {
			if len(ps) == 1 && ps[0] == os.Getpid() {
				mine++
			}
		}
		if mine < 12 {
			t.Fatalf("iterator found %d of the test's 12 sockets", mine)
		}
		return
	}
	t.Fatal("the host's sockets never held still long enough to compare")
}

func openIter(t *testing.T) *sockiter.Iterator {
	t.Helper()
	it, err := sockiter.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { it.Close() })
	return it
}

// deniedPIDs lists the processes whose fds the /proc walk cannot read.
func deniedPIDs(t *testing.T, root *hostfs.Root) map[int]bool {
	t.Helper()
	names, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	denied := map[int]bool{}
	for _, e := range names {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, err := socketInodes(root, pid, nil); errors.Is(err, fs.ErrPermission) {
			denied[pid] = true
		}
	}
	return denied
}

// TestIterOwnersLimits checks the wanted-inode filter against the full walk.
func TestIterOwnersLimits(t *testing.T) {
	requireSS(t)
	openTestSockets(t)
	it := openIter(t)
	all, err := iterOwners(it, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]struct{}{}
	for ino, ps := range all.byInode {
		if len(ps) == 1 && ps[0] == os.Getpid() {
			want[ino] = struct{}{}
		}
	}
	some, err := iterOwners(it, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(some.byInode) != len(want) {
		t.Fatalf("limited walk kept %d inodes, want %d", len(some.byInode), len(want))
	}
	for ino := range some.byInode {
		if _, ok := want[ino]; !ok {
			t.Errorf("limited walk kept unwanted inode %d", ino)
		}
	}
}

// TestSharesPIDNSFixture: host trees that are not this PID namespace's procfs
// are never read with the iterator, whatever their files say.
func TestSharesPIDNSFixture(t *testing.T) {
	write := func(t *testing.T, dir, name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"empty tree", func(*testing.T, string) {}},
		{"another process's self", func(t *testing.T, dir string) {
			write(t, dir, "proc/1/status", "Name:\tinit\nNSpid:\t1\n")
			if err := os.Symlink("1", filepath.Join(dir, "proc/self")); err != nil {
				t.Fatal(err)
			}
		}},
		{"nested namespace", func(t *testing.T, dir string) {
			write(t, dir, "proc/"+self+"/status", "Name:\tports.test\nNSpid:\t"+self+"\t7\n")
			if err := os.Symlink(self, filepath.Join(dir, "proc/self")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			root, err := hostfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if sharesPIDNS(root) {
				t.Fatal("taken for this PID namespace's procfs")
			}
		})
	}
}

// TestSharesPIDNSHost: this test's own /proc is its PID namespace's exactly
// when its NSpid has one entry.
func TestSharesPIDNSHost(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc here:", err)
	}
	var nspid []string
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			nspid = strings.Fields(rest)
		}
	}
	if nspid == nil {
		t.Skip("kernel without NSpid")
	}
	root, err := hostfs.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if got, want := sharesPIDNS(root), len(nspid) == 1; got != want {
		t.Fatalf("sharesPIDNS(/) = %v with NSpid %v", got, nspid)
	}
}

// TestScansUseIterator: as root the probe's first walk already uses the
// iterator and keeps it for a rescan after the sockets changed; both find
// the test's listeners with this process as their owner.
func TestScansUseIterator(t *testing.T) {
	root := liveHost(t)
	if !sharesPIDNS(root) {
		t.Skip("this test's /proc is not its PID namespace's")
	}
	env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	p := &Probe{}
	// protocol address port → sockets this process owns there (the
	// SO_REUSEPORT pair shares one address).
	ownedPorts := func(fs []finding.Finding) map[string]int {
		ports := map[string]int{}
		for _, f := range fs {
			if f.ID == IDListener && f.Evidence.Get("pid") == strconv.Itoa(os.Getpid()) {
				ports[f.Evidence.Get("protocol")+" "+f.Evidence.Get("address")+" "+f.Evidence.Get("port")]++
			}
		}
		return ports
	}
	total := func(m map[string]int) (n int) {
		for _, c := range m {
			n += c
		}
		return n
	}
	first := ownedPorts(p.Run(context.Background(), env))
	if p.iter == nil {
		t.Fatal("the first walk did not use the iterator")
	}
	it := p.iter
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	second := ownedPorts(p.Run(context.Background(), env))
	if p.iter != it {
		t.Fatal("the rescan did not reuse the loaded iterator")
	}
	if total(first) != 12 {
		t.Fatalf("first scan: %d of the test's 12 sockets owned by this process", len(first))
	}
	added := fmt.Sprintf("tcp 127.0.0.1 %d", l.Addr().(*net.TCPAddr).Port)
	if second[added] != 1 || total(second) != 13 {
		t.Fatalf("rescan: owned %v, want the first scan's 12 and %s", second, added)
	}
}
