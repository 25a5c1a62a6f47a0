package binaries

import (
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

// Owned says which of paths a package manager installed (path → package),
// from dpkg's file lists, apk's installed database and the file lists of the
// rpm database's headers. Only the candidates are kept, so the lists stream
// through. An unreadable rpm database is the packages probe's error to
// report; here it only means no binary counts as rpm's.
func Owned(root *hostfs.Root, paths []string) map[string]string {
	want := map[string]string{} // canonical path → path as found
	for _, p := range paths {
		want[canonical(p)] = p
	}
	out := map[string]string{}
	hit := func(file, pkg string) {
		if p, ok := want[canonical(file)]; ok {
			out[p] = pkg
		}
	}
	if names, err := root.ReadDirNames("/var/lib/dpkg/info"); err == nil {
		for _, n := range names {
			pkg, ok := strings.CutSuffix(n, ".list")
			if !ok {
				continue
			}
			pkg, _, _ = strings.Cut(pkg, ":") // libfoo:amd64.list
			root.Lines(path.Join("/var/lib/dpkg/info", n), func(l []byte) bool {
				hit(string(l), pkg)
				return true
			})
		}
	}
	for _, db := range rpm.Paths {
		if !root.Exists(db) {
			continue
		}
		owners, _ := rpm.Owners(root, db, func(file string) bool { _, ok := want[canonical(file)]; return ok })
		for file, name := range owners {
			hit(file, name)
		}
		break
	}
	var pkg, dir string
	root.Lines("/lib/apk/db/installed", func(l []byte) bool {
		s := string(l)
		switch {
		case strings.HasPrefix(s, "P:"):
			pkg = s[2:]
		case strings.HasPrefix(s, "F:"):
			dir = s[2:]
		case strings.HasPrefix(s, "R:"):
			hit("/"+path.Join(dir, s[2:]), pkg)
		}
		return true
	})
	return out
}

// canonical folds merged-/usr aliases: dpkg may list /bin/x for /usr/bin/x.
func canonical(p string) string {
	for _, d := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
		if strings.HasPrefix(p, d) {
			return "/usr" + p
		}
	}
	return p
}

func fileID(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), st.Ino, true
}
