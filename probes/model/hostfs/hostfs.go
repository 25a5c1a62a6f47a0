// Package hostfs is the one way nodeguard reads the host: every path is resolved
// inside --host-root exactly as the host would resolve it (an absolute symlink
// target is taken relative to the root) and can never lead outside it.
//
// On Linux ≥ 5.6 each lookup is a single openat2(RESOLVE_IN_ROOT) call; older
// kernels fall back to filepath-securejoin's race-free userspace walk.
package hostfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// DefaultLimit bounds ReadFile: configuration files are small, and a huge file
// in a host tree must produce an error finding, not an out-of-memory kill.
const DefaultLimit = 8 << 20

// ErrTooLarge is returned (wrapped) when a file exceeds the read limit.
var ErrTooLarge = errors.New("file exceeds the size limit")

// Root is a read-only view of a host tree.
type Root struct {
	path string
	dir  *os.File // O_PATH handle: the root cannot be swapped under us

	openat2Once sync.Once
	openat2OK   bool
}

// Open returns a Root for dir, which must be an existing directory.
func Open(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host root %s: %w", dir, err)
	}
	return &Root{path: abs, dir: f}, nil
}

// Path is the host root as given on the agent's filesystem.
func (r *Root) Path() string { return r.path }

// Close releases the root handle.
func (r *Root) Close() error { return r.dir.Close() }

// clean turns a host path into the form the resolvers take ("/etc/x" → "etc/x").
func clean(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return "."
	}
	return c[1:]
}

func (r *Root) pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: path.Clean("/" + name), Err: err}
}

func (r *Root) hasOpenat2() bool {
	r.openat2Once.Do(func() {
		fd, err := unix.Openat2(int(r.dir.Fd()), ".", &unix.OpenHow{
			Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT,
		})
		if err == nil {
			unix.Close(fd)
			r.openat2OK = true
		}
	})
	return r.openat2OK
}

// openFlags opens name inside the root with flags (O_RDONLY, O_PATH, O_DIRECTORY...).
func (r *Root) openFlags(name string, flags int) (*os.File, error) {
	rel := clean(name)
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY // openat2 refuses anything but O_CLOEXEC/O_DIRECTORY with O_PATH
	}
	if r.hasOpenat2() {
		for {
			fd, err := unix.Openat2(int(r.dir.Fd()), rel, &unix.OpenHow{
				Flags: uint64(flags | unix.O_CLOEXEC),
				// Magic links (/proc/<pid>/root, .../exe) would jump outside the
				// root; they are only ever read with Readlink.
				Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
			})
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err != nil {
				return nil, r.pathErr("open", name, err)
			}
			return os.NewFile(uintptr(fd), path.Join(r.path, rel)), nil
		}
	}
	h, err := pathrs.OpenatInRoot(r.dir, rel)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	if flags&unix.O_PATH != 0 {
		return h, nil
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, flags|unix.O_CLOEXEC)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	return f, nil
}

// Open opens a regular file or directory for reading. FIFOs and devices are
// refused so that a hostile host tree cannot block or wedge a probe.
func (r *Root) Open(name string) (*os.File, error) {
	h, err := r.openFlags(name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	st, err := h.Stat()
	if err != nil {
		h.Close()
		return nil, r.pathErr("stat", name, err)
	}
	h.Close()
	if !st.Mode().IsRegular() && !st.IsDir() {
		return nil, r.pathErr("open", name, fmt.Errorf("not a regular file (%s)", st.Mode().Type()))
	}
	return r.openFlags(name, unix.O_RDONLY|unix.O_NONBLOCK)
}

// ReadFile reads a whole file of at most DefaultLimit bytes.
func (r *Root) ReadFile(name string) ([]byte, error) {
	return r.ReadFileLimit(name, DefaultLimit)
}

// ReadFileLimit reads a whole file, failing with ErrTooLarge past limit bytes.
// It reads rather than trusting st_size, which is 0 for /proc and /sys files.
func (r *Root) ReadFileLimit(name string, limit int64) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, r.pathErr("read", name, errors.New("is a directory"))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, r.pathErr("read", name, err)
	}
	if int64(len(data)) > limit {
		return nil, r.pathErr("read", name, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit))
	}
	return data, nil
}

// Lines streams a file line by line, for large tables such as /proc/net/tcp.
// fn returning false stops the scan early.
func (r *Root) Lines(name string, fn func(line []byte) bool) error {
	f, err := r.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !fn(sc.Bytes()) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return r.pathErr("read", name, err)
	}
	return nil
}

// Stat follows symlinks inside the root.
func (r *Root) Stat(name string) (fs.FileInfo, error) {
	h, err := r.openFlags(name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return nil, r.pathErr("stat", name, err)
	}
	return st, nil
}

// Lstat describes name itself, not what it links to.
func (r *Root) Lstat(name string) (fs.FileInfo, error) {
	dir, base := path.Split(path.Clean("/" + name))
	if base == "" {
		return r.Stat("/")
	}
	d, err := r.openFlags(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, r.pathErr("lstat", name, err)
	}
	return statInfo(base, &st), nil
}

// Readlink returns the target of the symlink name without following it.
func (r *Root) Readlink(name string) (string, error) {
	dir, base := path.Split(path.Clean("/" + name))
	d, err := r.openFlags(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	defer d.Close()
	t, err := readlinkat(int(d.Fd()), base)
	if err != nil {
		return "", r.pathErr("readlink", name, err)
	}
	return t, nil
}

// Exists reports whether name resolves inside the root.
func (r *Root) Exists(name string) bool {
	_, err := r.Stat(name)
	return err == nil
}

// ReadDirNames lists a directory's entries, sorted.
func (r *Root) ReadDirNames(name string) ([]string, error) {
	d, err := r.openFlags(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, r.pathErr("readdir", name, err)
	}
	sort.Strings(names)
	return names, nil
}

// ReadDir lists a directory's entries (lstat-style types), sorted by name.
func (r *Root) ReadDir(name string) ([]fs.DirEntry, error) {
	d, err := r.openFlags(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, r.pathErr("readdir", name, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, nil
}

// Dir is an open directory inside the root, for probes that read many entries
// of one directory (/proc/<pid>/fd) without resolving the path each time.
type Dir struct {
	f    *os.File
	name string
	root *Root
}

// OpenDir opens a directory inside the root.
func (r *Root) OpenDir(name string) (*Dir, error) {
	d, err := r.openFlags(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &Dir{f: d, name: name, root: r}, nil
}

// Names lists the directory's entries, unsorted.
func (d *Dir) Names() ([]string, error) {
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return nil, d.root.pathErr("readdir", d.name, err)
	}
	n, err := d.f.Readdirnames(-1)
	if err != nil {
		return nil, d.root.pathErr("readdir", d.name, err)
	}
	return n, nil
}

// Entries returns up to n more entries (lstat-style types) in directory
// order, and io.EOF at the end: a directory of 100,000 files is read in
// batches rather than held whole.
func (d *Dir) Entries(n int) ([]fs.DirEntry, error) {
	ents, err := d.f.ReadDir(n)
	if err != nil && err != io.EOF {
		return ents, d.root.pathErr("readdir", d.name, err)
	}
	return ents, err
}

// Readlink reads the symlink entry without following it; it never leaves the
// directory, so it is safe on /proc's magic links.
func (d *Dir) Readlink(entry string) (string, error) {
	if strings.ContainsRune(entry, '/') {
		return "", d.root.pathErr("readlink", path.Join(d.name, entry), errors.New("not a directory entry"))
	}
	t, err := readlinkat(int(d.f.Fd()), entry)
	if err != nil {
		return "", d.root.pathErr("readlink", path.Join(d.name, entry), err)
	}
	return t, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.f.Close() }

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 1<<16 {
			return "", errors.New("symlink target too long")
		}
		buf = make([]byte, len(buf)*2)
	}
}

// Glob expands a shell pattern (as sshd's and sudo's includes do) inside the
// root, returning host paths in lexical order.
func (r *Root) Glob(pattern string) ([]string, error) {
	pattern = path.Clean("/" + pattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	parts := strings.Split(pattern[1:], "/")
	matches := []string{"/"}
	for i, part := range parts {
		last := i == len(parts)-1
		var next []string
		for _, dir := range matches {
			if !hasMeta(part) {
				p := path.Join(dir, part)
				if last {
					if _, err := r.Lstat(p); err != nil {
						continue
					}
				}
				next = append(next, p)
				continue
			}
			names, err := r.ReadDirNames(dir)
			if err != nil {
				continue
			}
			for _, n := range names {
				if strings.HasPrefix(n, ".") && !strings.HasPrefix(part, ".") {
					continue
				}
				if ok, _ := path.Match(part, n); ok {
					next = append(next, path.Join(dir, n))
				}
			}
		}
		matches = next
	}
	sort.Strings(matches)
	return matches, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
