package services

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// UnitDirs are the system unit directories, most important first: a unit
// file (or mask) in an earlier directory hides one of the same name in a
// later one, as in systemd's unit search path.
var UnitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

var unitSuffixes = []string{".service", ".socket", ".target", ".path", ".timer", ".mount", ".automount", ".swap", ".slice", ".scope", ".device"}

func isUnitName(n string) bool {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return true
		}
	}
	return false
}

// Unit is what the unit directories say about one unit name.
type Unit struct {
	Name string
	// File is the unit file in force (host path); empty when the name only
	// appears as a link in a .wants/.requires directory.
	File string
	// AliasOf is the unit this name is a symlink to, when it is an alias.
	AliasOf string
	Masked  bool
	// Present: some unit directory has a file for it, possibly hidden by a
	// mask in a more important one.
	Present bool
	// WantedBy lists the .wants/.requires links that pull the unit in.
	WantedBy []string
}

// Units is the result of scanning the unit directories.
type Units struct {
	ByName map[string]*Unit
	// DropIns are the *.conf drop-ins of each unit, in application order.
	DropIns map[string][]string
	Errors  []error
	// Found is false when no unit directory exists (no systemd).
	Found bool
}

func (u *Units) get(name string) *Unit {
	x := u.ByName[name]
	if x == nil {
		x = &Unit{Name: name}
		u.ByName[name] = x
	}
	return x
}

// ScanUnits reads the unit directories: unit files, masks, aliases,
// .wants/.requires links and drop-ins. It reads links, never follows them.
func ScanUnits(root *hostfs.Root) *Units {
	u := &Units{ByName: map[string]*Unit{}, DropIns: map[string][]string{}}
	dropins := map[string]map[string]string{} // unit → conf name → file (first wins)
	var seenDirs []fs.FileInfo
	for _, dir := range UnitDirs {
		// On merged-/usr hosts /lib is /usr/lib: read each directory once.
		if fi, err := root.Stat(dir); err == nil {
			if slices.ContainsFunc(seenDirs, func(o fs.FileInfo) bool { return os.SameFile(o, fi) }) {
				continue
			}
			seenDirs = append(seenDirs, fi)
		}
		ents, err := root.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
				u.Errors = append(u.Errors, err)
			}
			continue
		}
		u.Found = true
		var dh *hostfs.Dir // for the links of this directory, opened once
		for _, e := range ents {
			name, p := e.Name(), path.Join(dir, e.Name())
			switch {
			case e.IsDir() && (strings.HasSuffix(name, ".wants") || strings.HasSuffix(name, ".requires")):
				u.scanWants(root, p)
			case e.IsDir() && strings.HasSuffix(name, ".d"):
				owner := strings.TrimSuffix(name, ".d")
				names, err := root.ReadDirNames(p)
				if err != nil {
					u.Errors = append(u.Errors, err)
					continue
				}
				for _, c := range names {
					if !strings.HasSuffix(c, ".conf") {
						continue
					}
					if dropins[owner] == nil {
						dropins[owner] = map[string]string{}
					}
					if _, seen := dropins[owner][c]; !seen {
						dropins[owner][c] = path.Join(p, c)
					}
				}
			case isUnitName(name) && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0):
				x := u.get(name)
				hidden := x.File != "" || x.Masked || x.AliasOf != ""
				if e.Type()&fs.ModeSymlink == 0 {
					x.Present = true
					if !hidden {
						x.File = p
					}
					continue
				}
				if hidden {
					continue // hidden by an earlier directory
				}
				if dh == nil {
					if dh, err = root.OpenDir(dir); err != nil {
						u.Errors = append(u.Errors, err)
						break
					}
				}
				target, err := dh.Readlink(name)
				if err != nil {
					u.Errors = append(u.Errors, err)
					continue
				}
				switch base := path.Base(target); {
				case target == "/dev/null":
					x.Masked = true
				case base != name && isUnitName(base):
					x.AliasOf = base
				default:
					// A linked unit file (systemctl link) keeps its name.
					x.File = p
				}
			}
		}
		if dh != nil {
			dh.Close()
		}
	}
	for owner, confs := range dropins {
		names := make([]string, 0, len(confs))
		for n := range confs {
			names = append(names, n)
		}
		sort.Strings(names) // drop-ins apply in file-name order across directories
		for _, n := range names {
			u.DropIns[owner] = append(u.DropIns[owner], confs[n])
		}
	}
	return u
}

func (u *Units) scanWants(root *hostfs.Root, dir string) {
	d, err := root.OpenDir(dir)
	if err != nil {
		u.Errors = append(u.Errors, err)
		return
	}
	defer d.Close()
	names, err := d.Names()
	if err != nil {
		u.Errors = append(u.Errors, err)
		return
	}
	sort.Strings(names)
	for _, n := range names {
		if !isUnitName(n) {
			continue
		}
		x := u.get(n)
		x.WantedBy = append(x.WantedBy, dir)
		// The link may carry another name than its target (enable of an
		// alias): the target is enabled too.
		if t, err := d.Readlink(n); err == nil {
			if base := path.Base(t); base != n && isUnitName(base) && t != "/dev/null" {
				y := u.get(base)
				y.WantedBy = append(y.WantedBy, dir+" (as "+n+")")
			}
		}
	}
}

// Canonical follows alias links (bounded, aliases may loop).
func (u *Units) Canonical(name string) string {
	for range 8 {
		x := u.ByName[name]
		if x == nil || x.AliasOf == "" {
			return name
		}
		name = x.AliasOf
	}
	return name
}

// template returns "foo@.service" for "foo@bar.service", "" otherwise.
func template(name string) string {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at || at+1 == dot {
		return ""
	}
	return name[:at+1] + name[dot:]
}

// ParseCache keeps parsed unit files between scans, keyed by the file's
// identity and modification time, so a rescan reads only what changed.
type ParseCache struct {
	mu      sync.Mutex
	entries map[string]parsed
}

type parsed struct {
	id   fs.FileInfo
	opts []*unit.UnitOption
	err  error
}

func sameVersion(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// parse reads one unit file with go-systemd's parser.
func (c *ParseCache) parse(root *hostfs.Root, f string) ([]*unit.UnitOption, error) {
	fi, err := root.Stat(f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]parsed{}
	}
	e, ok := c.entries[f]
	c.mu.Unlock()
	if ok && sameVersion(e.id, fi) {
		return e.opts, e.err
	}
	data, err := root.ReadFile(f)
	if err != nil {
		return nil, err // not cached: it may be transient
	}
	var opts []*unit.UnitOption
	if bytes.IndexByte(data, 0) >= 0 {
		err = fmt.Errorf("%s: binary data (NUL byte), not a unit file", f)
	} else if opts, err = unit.DeserializeOptions(bytes.NewReader(data)); err != nil {
		err = fmt.Errorf("%s: %w", f, err)
	}
	c.mu.Lock()
	c.entries[f] = parsed{id: fi, opts: opts, err: err}
	c.mu.Unlock()
	return opts, err
}

// values returns the options of section across a unit file and its
// drop-ins, the last assignment of each key winning.
func (c *ParseCache) values(root *hostfs.Root, files []string, section string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range files {
		opts, err := c.parse(root, f)
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			if o.Section == section {
				out[o.Name] = o.Value
			}
		}
	}
	return out, nil
}

// unitFiles is a unit's file followed by its drop-ins.
func (u *Units) unitFiles(name string) []string {
	x := u.ByName[name]
	if x == nil || x.File == "" {
		if t := template(name); t != "" && t != name {
			return u.unitFiles(t)
		}
		return nil
	}
	files := []string{x.File}
	files = append(files, u.DropIns[name]...)
	return files
}

// Enablement says whether and why a unit starts without being asked.
type Enablement struct {
	Installed bool
	Masked    bool
	// Via lists the links (or triggering units) that enable it.
	Via []string
}

func (e Enablement) Enabled() bool { return !e.Masked && len(e.Via) > 0 }

// Resolve computes the enablement of every unit name of interest: its own
// wants links, those of its aliases and instances, and those of enabled
// sockets, paths and timers that trigger it. Parse errors of triggering
// units are returned.
func (u *Units) Resolve(root *hostfs.Root, cache *ParseCache) (map[string]*Enablement, []error) {
	out := map[string]*Enablement{}
	get := func(n string) *Enablement {
		e := out[n]
		if e == nil {
			e = &Enablement{}
			out[n] = e
		}
		return e
	}
	names := make([]string, 0, len(u.ByName))
	for n := range u.ByName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x := u.ByName[n]
		c := u.Canonical(n)
		cx := u.ByName[c]
		e := get(c)
		e.Installed = e.Installed || cx != nil && (cx.File != "" || cx.Present)
		e.Masked = e.Masked || x.Masked || cx != nil && cx.Masked
		e.Via = append(e.Via, x.WantedBy...)
		if t := template(c); t != "" && len(x.WantedBy) > 0 {
			te := get(t)
			te.Via = append(te.Via, x.WantedBy...)
			if tx := u.ByName[t]; tx != nil {
				te.Installed = te.Installed || tx.File != ""
				te.Masked = te.Masked || tx.Masked
			}
		}
	}
	var errs []error
	for _, n := range names {
		e := out[n]
		if e == nil || !e.Enabled() {
			continue
		}
		var section, key, def string
		switch {
		case strings.HasSuffix(n, ".socket"):
			section, key, def = "Socket", "Service", strings.TrimSuffix(n, ".socket")+".service"
		case strings.HasSuffix(n, ".path"):
			section, key, def = "Path", "Unit", strings.TrimSuffix(n, ".path")+".service"
		case strings.HasSuffix(n, ".timer"):
			section, key, def = "Timer", "Unit", strings.TrimSuffix(n, ".timer")+".service"
		default:
			continue
		}
		files := u.unitFiles(n)
		if len(files) == 0 {
			continue
		}
		vals, err := cache.values(root, files, section)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v := vals[key]
		if v == "" && section == "Socket" && isTrue(vals["Accept"]) {
			// Accept=yes sockets start one instance of name@.service per
			// connection.
			def = strings.TrimSuffix(n, ".socket") + "@.service"
		}
		if v == "" {
			v = def
		}
		t := get(u.Canonical(v))
		t.Via = append(t.Via, "triggered by "+n)
		if tx := u.ByName[u.Canonical(v)]; tx != nil {
			t.Installed = t.Installed || tx.File != ""
		}
	}
	return out, errs
}

func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}
