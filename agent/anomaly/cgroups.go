package anomaly

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// cgroupIndex maps cgroup ids of the unified hierarchy to cgroup paths, for
// events whose container membership the kernel left to user space (the
// simple program variant). A short-lived process is gone from /proc by the
// time its event is read, but its cgroup usually is not.
type cgroupIndex struct {
	root *hostfs.Root

	mu      sync.Mutex
	paths   map[uint64]string
	scanned time.Time
}

const (
	// cgroupRescanEvery bounds how often a miss rereads the hierarchy.
	cgroupRescanEvery = time.Second
	maxCgroups        = 200000
	maxCgroupDepth    = 16
)

func newCgroupIndex(root *hostfs.Root) *cgroupIndex {
	if root == nil {
		return nil
	}
	return &cgroupIndex{root: root}
}

// lookup returns the path of cgroup id, rereading the hierarchy on a miss at
// most once per cgroupRescanEvery.
func (c *cgroupIndex) lookup(id uint64) (string, bool) {
	if c == nil || id == 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.paths[id]; ok {
		return p, true
	}
	if p, ok := c.byHandle(id); ok {
		return p, true
	}
	if time.Since(c.scanned) < cgroupRescanEvery {
		return "", false
	}
	c.scanned = time.Now()
	c.paths = c.scan()
	p, ok := c.paths[id]
	return p, ok
}

// fileIDKernfs is the file handle type of kernfs (cgroup v2): the handle is
// the 64-bit node id, which is the cgroup id.
const fileIDKernfs = 0xfe

// byHandle opens the cgroup by its id, as systemd and bpftool do: one
// syscall, no walk, and no race with a cgroup made just before its event.
// It needs CAP_DAC_READ_SEARCH, which the agent has; without it the walk
// serves.
func (c *cgroupIndex) byHandle(id uint64) (string, bool) {
	base := c.unifiedMount()
	if base == "" {
		return "", false
	}
	mnt, err := c.root.Open(base)
	if err != nil {
		return "", false
	}
	defer mnt.Close()
	var handle [8]byte
	binary.NativeEndian.PutUint64(handle[:], id)
	fd, err := unix.OpenByHandleAt(int(mnt.Fd()), unix.NewFileHandle(fileIDKernfs, handle[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	// The link names the cgroup as this process sees it (under the host
	// root); only its components matter.
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", false
	}
	return p, true
}

// unifiedMount is where the cgroup v2 hierarchy is: /sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one.
func (c *cgroupIndex) unifiedMount() string {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if c.root.Exists(dir+"/cgroup.procs") && !c.root.Exists(dir+"/tasks") {
			return dir
		}
	}
	return ""
}

func (c *cgroupIndex) scan() map[uint64]string {
	out := map[uint64]string{}
	base := c.unifiedMount()
	if base == "" {
		return out
	}
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		if len(out) >= maxCgroups || depth > maxCgroupDepth {
			return
		}
		fi, err := c.root.Stat(path.Join(base, rel))
		if err != nil {
			return
		}
		// The id of a cgroup v2 is its directory's inode number.
		switch st := fi.Sys().(type) {
		case *unix.Stat_t:
			out[st.Ino] = "/" + strings.TrimPrefix(rel, "/")
		case *syscall.Stat_t:
			out[st.Ino] = "/" + strings.TrimPrefix(rel, "/")
		}
		entries, err := c.root.ReadDir(path.Join(base, rel))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Type()&fs.ModeDir != 0 {
				walk(path.Join(rel, e.Name()), depth+1)
			}
		}
	}
	walk("", 0)
	return out
}

// containerComponent returns the component of a cgroup path that names a
// container ("cri-containerd-<id>.scope", "<id>"), or "".
func containerComponent(cgroupPath string) string {
	_, id, ok := ParseContainerID(cgroupPath)
	if !ok {
		return ""
	}
	parts := strings.Split(strings.Trim(cgroupPath, "/"), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if strings.Contains(parts[i], id) {
			return parts[i]
		}
	}
	return ""
}
