package ports

import (
	"bytes"
	"os"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/bpf/sockiter"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// walkOwners maps socket inodes to the pids holding them with the BPF
// task_file iterator when it can run here (one read for every fd of every
// process, 4-5x faster than readlink on each, about 3 ms to load), else by
// reading HOSTROOT/proc/<pid>/fd like ss -p.
func (p *Probe) walkOwners(root *hostfs.Root, log zerolog.Logger, want map[uint64]struct{}) (*ownerScan, error) {
	if p.useIter == nil {
		ok := sharesPIDNS(root)
		p.useIter = &ok
		if !ok {
			log.Debug().Str("host_root", root.Path()).Msg("ports: the host's /proc is another PID namespace; walking its fds")
		}
	}
	if *p.useIter {
		res, err := p.iterOwners(want)
		if err == nil {
			if want != nil {
				res.limit(root, want)
			}
			return res, nil
		}
		// Not root, no CAP_BPF/CAP_PERFMON, no BTF, a kernel without
		// task_file iterators or one that locks BPF down: /proc says the same.
		log.Debug().Err(err).Msg("ports: the BPF socket iterator is unavailable; walking /proc/<pid>/fd")
		no := false
		p.useIter = &no
		if p.iter != nil {
			p.iter.Close()
			p.iter = nil
		}
	}
	return scanOwners(root, want)
}

// iterOwners runs the socket iterator, loaded on first use and kept for the
// rescans of `nodeguard run`. The program and link are closed on exit.
func (p *Probe) iterOwners(want map[uint64]struct{}) (*ownerScan, error) {
	if p.iter == nil {
		it, err := sockiter.Open()
		if err != nil {
			return nil, err
		}
		p.iter = it
	}
	return iterOwners(p.iter, want)
}

// iterOwners runs the socket iterator once. Its pids are numbers of the
// agent's PID namespace, the only processes it sees; limit reads the owners'
// details from /proc.
func iterOwners(it *sockiter.Iterator, want map[uint64]struct{}) (*ownerScan, error) {
	// Records are gathered first so that the map is made at its final size
	// and every socket's pid slice can come from one array.
	var recs []sockiter.Record
	err := it.Read(func(r sockiter.Record) {
		if want != nil {
			if _, ok := want[r.Inode]; !ok {
				return
			}
		}
		recs = append(recs, r)
	})
	if err != nil {
		return nil, err
	}
	res := &ownerScan{byInode: make(map[uint64][]int, len(recs)), procs: map[int]*Process{}}
	pids := make([]int, 0, len(recs))
	for _, r := range recs {
		ps, pid := res.byInode[r.Inode], int(r.PID)
		switch n := len(ps); {
		case n == 0:
			// Capacity 1: a second owner's append copies out of the array.
			pids = append(pids, pid)
			res.byInode[r.Inode] = pids[len(pids)-1 : len(pids) : len(pids)]
		case ps[n-1] != pid:
			// Records come process by process: a repeat is the same
			// process's next fd (or thread) on the same socket.
			res.byInode[r.Inode] = append(ps, pid)
		}
	}
	return res, nil
}

// sharesPIDNS tells whether the pids the iterator reports (those of the
// agent's PID namespace, the only ones it sees) are the ones HOSTROOT/proc
// lists. In a procfs of the agent's own namespace, /proc/self is the agent's
// getpid() and its status lists one NSpid (the procfs's namespace down to the
// agent's). Without NSpid (Linux < 4.1) the namespace links are compared, and
// failing that only the running system's root is trusted.
func sharesPIDNS(root *hostfs.Root) bool {
	self, err := root.Readlink("/proc/self")
	if err != nil || self != strconv.Itoa(os.Getpid()) {
		return false
	}
	if status, err := root.ReadFileLimit("/proc/self/status", 64<<10); err == nil {
		for line := range bytes.Lines(status) {
			if rest, ok := bytes.CutPrefix(line, []byte("NSpid:")); ok {
				return len(bytes.Fields(rest)) == 1
			}
		}
	}
	own, err1 := os.Readlink("/proc/self/ns/pid")
	host, err2 := root.Readlink("/proc/1/ns/pid")
	if err1 == nil && err2 == nil {
		return own == host
	}
	return root.Path() == "/"
}
