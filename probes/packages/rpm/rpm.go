// Package rpm reads the installed inventory of RPM hosts and orders RPM
// versions the way rpm does.
package rpm

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Paths are the rpm databases in the order rpm itself looks for them:
// sqlite (RHEL 9, Fedora ≥ 33), ndb (SUSE), BerkeleyDB (RHEL ≤ 8).
var Paths = []string{
	"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite",
	"/usr/lib/sysimage/rpm/Packages.db", "/var/lib/rpm/Packages.db",
	"/usr/lib/sysimage/rpm/Packages", "/var/lib/rpm/Packages",
}

// Package is one installed rpm.
type Package struct {
	Name, Version, Release, Arch, SourceRPM string
	Epoch                                   int
}

// EVR is [epoch:]version-release.
func (p Package) EVR() string {
	s := p.Version + "-" + p.Release
	if p.Epoch > 0 {
		s = strconv.Itoa(p.Epoch) + ":" + s
	}
	return s
}

// SourceName is the source package's name, from the SOURCERPM tag
// (name-version-release.src.rpm).
func (p Package) SourceName() string {
	s := strings.TrimSuffix(p.SourceRPM, ".src.rpm")
	s = strings.TrimSuffix(s, ".nosrc.rpm")
	for i := 0; i < 2; i++ {
		j := strings.LastIndexByte(s, '-')
		if j <= 0 {
			return p.Name
		}
		s = s[:j]
	}
	return s
}

// Read lists the packages of the rpm database at the host path db.
func Read(root *hostfs.Root, db string) ([]Package, error) {
	blobs, list, err := load(root, db)
	if err != nil {
		return nil, err
	}
	out := make([]Package, 0, len(blobs)+len(list))
	for i, b := range blobs {
		p, err := parseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("%s: package %d: %w", db, i+1, err)
		}
		out = append(out, p)
	}
	for _, p := range list {
		out = append(out, Package{Name: p.Name, Version: p.Version, Release: p.Release, Arch: p.Arch,
			SourceRPM: p.SourceRpm, Epoch: p.Epoch})
	}
	return out, nil
}

// load reads the database at the host path db: the header blobs of sqlite
// and ndb databases, or the packages go-rpmdb decodes from BerkeleyDB.
func load(root *hostfs.Root, db string) ([][]byte, []*rpmdb.PackageInfo, error) {
	f, err := root.Open(db)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	switch path.Base(db) {
	case "rpmdb.sqlite", "Packages.db":
		fi, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		read := sqlitePackages
		if path.Base(db) == "Packages.db" {
			read = ndbPackages
		}
		blobs, err := read(f, fi.Size())
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", db, err)
		}
		return blobs, nil, nil
	case "Packages":
	default:
		return nil, nil, fmt.Errorf("%s: unknown rpm database format (BerkeleyDB Packages, ndb Packages.db and rpmdb.sqlite are read); installed packages are unknown", db)
	}
	// go-rpmdb opens by name: hand it the descriptor we opened inside the
	// root, so a symlink cannot lead it elsewhere.
	h, err := rpmdb.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", db, err)
	}
	list, err := h.ListPackages()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", db, err)
	}
	return nil, list, nil
}

// CompareEVR orders [epoch:]version[-release] strings as rpm's rpmverCmp
// does: epochs (absent is "0") and versions with rpmvercmp, releases only
// when both sides have one.
func CompareEVR(a, b string) int {
	ea, va, ra, hasRA := splitEVR(a)
	eb, vb, rb, hasRB := splitEVR(b)
	if c := CompareSegments(ea, eb); c != 0 {
		return c
	}
	if c := CompareSegments(va, vb); c != 0 {
		return c
	}
	if hasRA && hasRB {
		return CompareSegments(ra, rb)
	}
	return 0
}

// splitEVR splits as rpm's rpmverParse does: an epoch only when digits
// alone precede the first ':', the release after the last '-'.
func splitEVR(s string) (epoch, version, release string, hasRelease bool) {
	epoch = "0"
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == ':' {
		if i > 0 { // an empty epoch counts as none
			epoch = s[:i]
		}
		s = s[i+1:]
	}
	if j := strings.LastIndexByte(s, '-'); j >= 0 {
		return epoch, s[:j], s[j+1:], true
	}
	return epoch, s, "", false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// CompareSegments is rpmvercmp: alternating numeric and alphabetic
// segments, '~' sorting before everything and '^' after the end.
func CompareSegments(a, b string) int {
	if a == b {
		return 0
	}
	for len(a) > 0 || len(b) > 0 {
		for len(a) > 0 && !isDigit(a[0]) && !isAlpha(a[0]) && a[0] != '~' && a[0] != '^' {
			a = a[1:]
		}
		for len(b) > 0 && !isDigit(b[0]) && !isAlpha(b[0]) && b[0] != '~' && b[0] != '^' {
			b = b[1:]
		}
		if len(a) > 0 && a[0] == '~' || len(b) > 0 && b[0] == '~' {
			if len(a) == 0 || a[0] != '~' {
				return 1
			}
			if len(b) == 0 || b[0] != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if len(a) > 0 && a[0] == '^' || len(b) > 0 && b[0] == '^' {
			if len(a) == 0 {
				return -1
			}
			if len(b) == 0 {
				return 1
			}
			if a[0] != '^' {
				return 1
			}
			if b[0] != '^' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if len(a) == 0 || len(b) == 0 {
			break
		}
		num := isDigit(a[0])
		take := func(s string) (string, string) {
			i := 0
			for i < len(s) && (num && isDigit(s[i]) || !num && isAlpha(s[i])) {
				i++
			}
			return s[:i], s[i:]
		}
		var sa, sb string
		sa, a = take(a)
		sb, b = take(b)
		if sb == "" {
			// Numeric segments are newer than alphabetic ones.
			if num {
				return 1
			}
			return -1
		}
		if num {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return -1
	}
	return 1
}

// Owners maps each wanted path that an installed package lists among its
// files to that package's name, as `rpm -qf` would. want sees every file of
// every package: it decides cheaply, so the lists are not kept.
func Owners(root *hostfs.Root, db string, want func(path string) bool) (map[string]string, error) {
	blobs, list, err := load(root, db)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	add := func(name string, files []string) {
		for _, p := range files {
			if want(p) {
				out[p] = name
			}
		}
	}
	for i, b := range blobs {
		name, files, err := headerFiles(b)
		if err != nil {
			return nil, fmt.Errorf("%s: package %d: %w", db, i+1, err)
		}
		add(name, files)
	}
	for _, p := range list {
		files, err := p.InstalledFiles()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", db, p.Name, err)
		}
		add(p.Name, files)
	}
	return out, nil
}
