package anomaly

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// procCache remembers processes so that an event's parent chain is known
// even when the parents are short-lived. It is bounded: beyond max entries
// the oldest inserted are forgotten. Entries are filled from /proc (seeded
// at start, then on a miss) and from exec events.
type procCache struct {
	root *hostfs.Root
	max  int

	mu    sync.Mutex
	procs map[uint32]*procEntry
	order []uint32 // insertion order, for eviction
}

type procEntry struct {
	ppid   uint32
	comm   string
	exe    string
	cgroup string
}

const ancestorDepth = 8

func newProcCache(root *hostfs.Root, max int) *procCache {
	return &procCache{root: root, max: max, procs: map[uint32]*procEntry{}}
}

// seed reads every process of /proc.
func (c *procCache) seed() error {
	names, err := c.root.ReadDirNames("/proc")
	if err != nil {
		return err
	}
	for _, n := range names {
		pid, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			continue
		}
		if e := c.read(uint32(pid)); e != nil {
			c.put(uint32(pid), e)
		}
	}
	return nil
}

// read loads one process from /proc; nil when it is gone.
func (c *procCache) read(pid uint32) *procEntry {
	dir := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	stat, err := c.root.ReadFileLimit(dir+"/stat", 4096)
	if err != nil {
		return nil
	}
	comm, ppid, ok := parseStat(stat)
	if !ok {
		return nil
	}
	e := &procEntry{ppid: ppid, comm: comm}
	e.exe, _ = c.root.Readlink(dir + "/exe")
	if cg, err := c.root.ReadFileLimit(dir+"/cgroup", 64<<10); err == nil {
		e.cgroup = cgroupPathFromProc(strings.Split(strings.TrimSpace(string(cg)), "\n"))
	}
	return e
}

// parseStat reads comm and ppid from /proc/<pid>/stat. comm is in
// parentheses and may itself contain ") ", so the last ')' ends it.
func parseStat(b []byte) (comm string, ppid uint32, ok bool) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(string(b[end+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	p, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), uint32(p), true
}

func (c *procCache) put(pid uint32, e *procEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.procs[pid]; !ok {
		c.order = append(c.order, pid)
	}
	c.procs[pid] = e
	for len(c.procs) > c.max && len(c.order) > 0 {
		delete(c.procs, c.order[0])
		c.order = c.order[1:]
	}
	// Let the slice's backing array be reclaimed now and then.
	if cap(c.order) > 4*c.max {
		c.order = append([]uint32(nil), c.order...)
	}
}

func (c *procCache) get(pid uint32) *procEntry {
	c.mu.Lock()
	e := c.procs[pid]
	c.mu.Unlock()
	if e != nil {
		return e
	}
	if e = c.read(pid); e != nil {
		c.put(pid, e)
	}
	return e
}

// exec records what an exec event says about its process.
func (c *procCache) exec(pid, ppid uint32, comm, exe string) {
	e := &procEntry{ppid: ppid, comm: comm, exe: exe}
	if old := c.get(pid); old != nil {
		e.cgroup = old.cgroup
	}
	c.put(pid, e)
}

// ancestors returns the parent chain of a process whose parent is ppid.
func (c *procCache) ancestors(ppid uint32) []Process {
	var out []Process
	for pid := ppid; pid > 0 && len(out) < ancestorDepth; {
		e := c.get(pid)
		if e == nil {
			out = append(out, Process{PID: pid})
			break
		}
		out = append(out, Process{PID: pid, Comm: e.comm, Exe: e.exe})
		if e.ppid == pid {
			break
		}
		pid = e.ppid
	}
	return out
}

func (c *procCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.procs)
}
