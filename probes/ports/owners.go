package ports

import (
	"bytes"
	"errors"
	"io/fs"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Process is what the report says about a socket's owner.
type Process struct {
	PID       int
	Name      string // comm, as ss prints it
	Exe       string // as the process sees it (inside its container, if any)
	Container string // 64-hex container id, when in a container cgroup
	startTime string // /proc/<pid>/stat field 22: tells a reused pid apart
	pid       string // PID formatted once: it is evidence of every socket the process owns
}

// pidString is the PID as evidence shows it, formatted once per process. It
// must not be cached on first use: listeners are judged on several
// goroutines at once.
func (p *Process) pidString() string {
	if p.pid == "" {
		return strconv.Itoa(p.PID)
	}
	return p.pid
}

// ownerScan is the result of walking every process's fd table.
type ownerScan struct {
	byInode map[uint64][]int // listening inode → pids holding it, ascending
	procs   map[int]*Process
	denied  int // processes whose fd table could not be read (permission)
}

// scanOwners walks HOSTROOT/proc/<pid>/fd like ss -p does and maps socket
// inodes to the pids holding them. With want nil it keeps every socket, so
// that a cold scan can walk while the socket tables are still being read;
// limit then drops the others. Processes that exit mid-scan are skipped
// silently: that is normal on a busy node, not an error.
func scanOwners(root *hostfs.Root, want map[uint64]struct{}) (*ownerScan, error) {
	proc, err := root.OpenDir("/proc")
	if err != nil {
		return nil, err
	}
	names, err := proc.Names()
	proc.Close()
	if err != nil {
		return nil, err
	}
	next := make(chan int, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			next <- pid
		}
	}
	close(next)

	res := &ownerScan{byInode: map[uint64][]int{}, procs: map[int]*Process{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[uint64][]int{}
			denied := 0
			for pid := range next {
				found, err := socketInodes(root, pid, want)
				if err != nil && errors.Is(err, fs.ErrPermission) {
					denied++
				}
				for _, ino := range found {
					local[ino] = append(local[ino], pid)
				}
			}
			mu.Lock()
			for ino, ps := range local {
				res.byInode[ino] = append(res.byInode[ino], ps...)
			}
			res.denied += denied
			mu.Unlock()
		}()
	}
	wg.Wait()
	if want != nil {
		res.limit(root, want)
	}
	return res, nil
}

// limit keeps only the wanted inodes (all when want is nil) and reads the
// processes that own them.
func (res *ownerScan) limit(root *hostfs.Root, want map[uint64]struct{}) {
	last := 0 // pids repeat: one process usually holds many listeners
	for ino, ps := range res.byInode {
		if want != nil {
			if _, ok := want[ino]; !ok {
				delete(res.byInode, ino)
				continue
			}
		}
		if len(ps) > 1 {
			sort.Ints(ps)
			if c := compactInts(ps); len(c) < len(ps) {
				ps = c
				res.byInode[ino] = ps
			}
		}
		for _, pid := range ps {
			if pid == last {
				continue
			}
			last = pid
			if _, ok := res.procs[pid]; !ok {
				res.procs[pid] = readProcess(root, pid)
			}
		}
	}
}

// bigFDTable is where one process's fds are split across goroutines: a
// server holding thousands of sockets would otherwise keep one core busy
// while the others idle.
const bigFDTable = 2048

// socketInodes returns the socket inodes (the wanted ones, or all when want is
// nil) among pid's open fds.
func socketInodes(root *hostfs.Root, pid int, want map[uint64]struct{}) ([]uint64, error) {
	d, err := root.OpenDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fds, err := d.Names()
	if err != nil {
		return nil, err
	}
	parts := 1
	if len(fds) > bigFDTable {
		parts = runtime.GOMAXPROCS(0)
	}
	outs := make([][]uint64, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	chunk := (len(fds) + parts - 1) / parts
	for i := range parts {
		lo, hi := min(i*chunk, len(fds)), min((i+1)*chunk, len(fds))
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = readSocketLinks(d, fds[lo:hi], want)
		}()
	}
	wg.Wait()
	var out []uint64
	for i := range outs {
		out = append(out, outs[i]...)
	}
	return out, errors.Join(errs...)
}

func readSocketLinks(d *hostfs.Dir, fds []string, want map[uint64]struct{}) ([]uint64, error) {
	var out []uint64
	for _, fd := range fds {
		t, err := d.Readlink(fd)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return out, err
			}
			continue // fd closed meanwhile
		}
		ino, ok := socketInode(t)
		if !ok {
			continue
		}
		if want != nil {
			if _, ok := want[ino]; !ok {
				continue
			}
		}
		out = append(out, ino)
	}
	return out, nil
}

// socketInode parses "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	if !strings.HasPrefix(link, "socket:[") || !strings.HasSuffix(link, "]") {
		return 0, false
	}
	ino, err := strconv.ParseUint(link[len("socket:["):len(link)-1], 10, 64)
	return ino, err == nil
}

func readProcess(root *hostfs.Root, pid int) *Process {
	p := &Process{PID: pid, pid: strconv.Itoa(pid)}
	base := "/proc/" + p.pid
	if stat, err := root.ReadFileLimit(base+"/stat", 4096); err == nil {
		p.Name, p.startTime = parseStat(stat)
	}
	if exe, err := root.Readlink(base + "/exe"); err == nil {
		p.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	if cg, err := root.ReadFileLimit(base+"/cgroup", 64<<10); err == nil {
		p.Container = containerID(cg)
	}
	return p
}

// parseStat returns comm and starttime from /proc/<pid>/stat. comm may itself
// contain spaces and parentheses, so it ends at the last ')'.
func parseStat(stat []byte) (comm, start string) {
	open := bytes.IndexByte(stat, '(')
	closing := bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return "", ""
	}
	comm = string(stat[open+1 : closing])
	rest := bytes.Fields(stat[closing+1:])
	// rest[0] is field 3 (state); starttime is field 22.
	if len(rest) > 19 {
		start = string(rest[19])
	}
	return comm, start
}

// Container runtimes name a container's cgroup after its 64-hex id:
// cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope (systemd
// driver), .../<id> (cgroupfs driver), /docker/<id>, libpod-<id>.scope.
var containerIDRe = regexp.MustCompile(`(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$`)

// containerID finds the container id in /proc/<pid>/cgroup (v1 or v2).
func containerID(cgroup []byte) string {
	for _, line := range bytes.Split(cgroup, []byte{'\n'}) {
		// hierarchy-ID:controllers:path
		parts := bytes.SplitN(line, []byte{':'}, 3)
		if len(parts) != 3 {
			continue
		}
		path := bytes.TrimRight(parts[2], "\r ")
		if m := containerIDRe.FindSubmatch(path); m != nil {
			return string(m[1])
		}
	}
	return ""
}

// processUnchanged tells whether pid still is the process p described.
func processUnchanged(root *hostfs.Root, p *Process) bool {
	stat, err := root.ReadFileLimit("/proc/"+strconv.Itoa(p.PID)+"/stat", 4096)
	if err != nil {
		return false
	}
	_, start := parseStat(stat)
	return start != "" && start == p.startTime
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
