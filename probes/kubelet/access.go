package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// dirLimit is a directory on a file's path that takes access away from it.
type dirLimit struct {
	Dir  string
	Mode fs.FileMode
}

func (d dirLimit) String() string { return fmt.Sprintf("%s is %04o", d.Dir, d.Mode) }

// effective is the access a file's directories leave to it.
type effective struct {
	Mode  fs.FileMode // the file's permission bits minus what directories take
	By    []dirLimit  // the directories that took something
	Links uint64      // more than 1: other names may be reachable, nothing is credited
}

// limitByDir returns what a directory (mode d, owner du:dg) on the path to a
// file (mode m, owner fu:fg) leaves of the file's group and other bits. A
// class loses access only when nobody in it can search the directory: no
// search bit reaches it, and the directory's owner is root (who needs none)
// or the file's owner. Owner bits are left alone.
func limitByDir(m fs.FileMode, fu, fg uint32, d fs.FileMode, du, dg uint32, acl bool) fs.FileMode {
	if du != 0 && du != fu {
		return m // the directory's owner may be in the file's group or other class
	}
	if d&0o001 != 0 {
		return m
	}
	if d&0o010 == 0 {
		return m &^ 0o077 // nobody but the directory's owner can search it
	}
	// Group search only: the directory's group members can search. When that
	// group is the file's, they are the file's group class, so other loses
	// access, unless an ACL may name users outside it.
	if dg == fg && !acl {
		return m &^ 0o007
	}
	return m
}

// effectiveMode computes the access to the file p (stat st, followed) that
// the directories of its real path, from the host root down, leave. Only the
// real path counts: a restrictive directory holding a symlink to the file
// protects nothing, since the target is reachable by its own path.
func effectiveMode(root *hostfs.Root, p string, st fs.FileInfo) (effective, error) {
	m := st.Mode().Perm()
	out := effective{Mode: m}
	fu, fg, _ := hostfs.Owner(st)
	dev, ino, nlink, ok := inode(st)
	if !ok {
		return out, errors.New("no inode number")
	}
	if nlink > 1 && !st.IsDir() {
		out.Links = nlink
		return out, nil // a hard link elsewhere may be in open directories
	}
	real, err := realPath(root, p)
	if err != nil {
		return out, err
	}
	rst, err := root.Stat(real)
	if err != nil {
		return out, err
	}
	if d, i, _, _ := inode(rst); d != dev || i != ino {
		return out, fmt.Errorf("%s changed while its path was resolved", p)
	}
	dirs := []string{"/"}
	for i := 1; i < len(real); i++ {
		if real[i] == '/' {
			dirs = append(dirs, real[:i])
		}
	}
	for _, dir := range dirs {
		dst, err := root.Stat(dir)
		if err != nil {
			return effective{Mode: m}, err
		}
		dm := dst.Mode().Perm()
		du, dg, _ := hostfs.Owner(dst)
		acl := dm&0o011 == 0o010 && hasACL(root, dir) // only group-search dirs depend on it
		if next := limitByDir(out.Mode, fu, fg, dm, du, dg, acl); next != out.Mode {
			out.Mode = next
			out.By = append(out.By, dirLimit{Dir: dir, Mode: dm})
		}
	}
	return out, nil
}

// hasACL reports whether a directory has an access ACL (or might have: an
// unreadable one counts).
func hasACL(root *hostfs.Root, dir string) bool {
	f, err := root.Open(dir)
	if err != nil {
		return true
	}
	defer f.Close()
	_, err = unix.Fgetxattr(int(f.Fd()), "system.posix_acl_access", nil)
	return err == nil || !(errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP))
}

// realPath resolves every symlink of p inside the root, as the host would
// (absolute targets from the host root, ".." never above it).
func realPath(root *hostfs.Root, p string) (string, error) {
	todo := strings.Split(path.Clean("/"+p), "/")
	done := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		fi, err := root.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if hops++; hops > 40 {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		t, err := root.Readlink(next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(t) {
			done = "/"
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return done, nil
}

// inode returns the device, inode number and link count of a stat result
// from hostfs or os.
func inode(fi fs.FileInfo) (dev, ino, nlink uint64, ok bool) {
	switch s := fi.Sys().(type) {
	case *unix.Stat_t:
		return uint64(s.Dev), s.Ino, uint64(s.Nlink), true
	case *syscall.Stat_t:
		return uint64(s.Dev), s.Ino, uint64(s.Nlink), true
	}
	return 0, 0, 0, false
}
