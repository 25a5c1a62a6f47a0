package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Config names apt's and dpkg's files on the host (apt's Dir::... options).
type Config struct {
	Status, StatusD               string
	Lists                         string
	SourceList, SourceParts       string
	Preferences, PreferencesParts string
	AptConf, AptConfParts         string
	ArchFile                      string
	// Arch overrides the native architecture (otherwise dpkg's own).
	Arch string
}

// DefaultConfig is a stock Debian or Ubuntu host.
func DefaultConfig() Config {
	return Config{
		Status: "/var/lib/dpkg/status", StatusD: "/var/lib/dpkg/status.d",
		Lists:      "/var/lib/apt/lists",
		SourceList: "/etc/apt/sources.list", SourceParts: "/etc/apt/sources.list.d",
		Preferences: "/etc/apt/preferences", PreferencesParts: "/etc/apt/preferences.d",
		AptConf: "/etc/apt/apt.conf", AptConfParts: "/etc/apt/apt.conf.d",
		ArchFile: "/var/lib/dpkg/arch",
	}
}

// Installed is one installed package.
type Installed struct {
	Name, Arch, Version   string
	Source, SourceVersion string
	Hold                  bool
}

// Upgrade is one line of `apt list --upgradable`.
type Upgrade struct {
	Name, Arch, Installed, Candidate string
	Security                         bool
	Archives                         []string
}

// Masked is a security fix the candidate does not include: a pin or a
// priority keeps apt from installing the newer version of a security archive.
type Masked struct {
	Name, Arch, Candidate, SecurityVersion string
}

// Problem is bad input that was skipped; File names it.
type Problem struct {
	File string
	Err  error
	// Orphan marks a list no configured source uses.
	Orphan bool
}

func (p Problem) Error() string { return p.File + ": " + p.Err.Error() }

// FileID identifies a file's content without reading it, for the rescan cache.
type FileID struct {
	Path                  string
	Dev, Ino, Size, Mtime int64
}

// Result is what dpkg and apt know about the host's patch level.
type Result struct {
	Native       string
	Installed    []Installed
	Upgrades     []Upgrade
	Masked       []Masked
	Problems     []Problem
	Lists        int       // Packages lists read
	ListsUpdated time.Time // newest Release file of a configured source; zero if none
	Inputs       []FileID
}

// ErrNoDpkg means the host has no dpkg database: not a Debian-family host.
var ErrNoDpkg = errors.New("no dpkg status database")

type pkgState struct {
	inst     Installed
	instID   buildID
	versions []*verEntry // in the order apt's cache creates them
}

// buildID tells builds of one version string apart the way apt's cache
// does (debListParser::VersionHash and SameVersion): a status entry and a
// list entry with the same version but different dependencies or
// Installed-Size are two versions, and apt offers the list one as an upgrade.
type buildID struct {
	hash      uint64
	multiArch string
	size      uint64 // download size; the status file has none
}

func (a buildID) same(b buildID) bool {
	return a.hash == b.hash && a.multiArch == b.multiArch && (a.size == 0 || b.size == 0 || a.size == b.size)
}

type verEntry struct {
	raw   string
	id    buildID
	files []int
}

// hashFields are the fields apt's VersionHash covers, then Size and
// Multi-Arch, which SameVersion compares.
var hashFields = []string{"Installed-Size", "Depends", "Pre-Depends", "Conflicts", "Breaks", "Replaces"}

// buildIDOf computes the identity from a stanza whose fields first..first+5
// are hashFields, followed by Size and Multi-Arch.
func buildIDOf(st *Stanza, first int) buildID {
	h := uint64(14695981039346656037)
	for i := first; i < first+len(hashFields); i++ {
		// Like apt: white space and '=' dropped, ASCII lower-cased.
		for _, c := range st.Get(i) {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '=' {
				continue
			}
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	id := buildID{hash: h}
	for _, c := range st.Get(first + len(hashFields)) {
		if c < '0' || c > '9' {
			id.size = 0
			break
		}
		id.size = id.size*10 + uint64(c-'0')
	}
	ma := strings.ToLower(string(st.Get(first + len(hashFields) + 1)))
	if ma == "no" {
		ma = ""
	}
	id.multiArch = ma
	return id
}

type scanner struct {
	root   *hostfs.Root
	cfg    Config
	res    *Result
	native string
	archs  []string
	mu     sync.Mutex
}

func (s *scanner) problem(file string, err error) {
	s.mu.Lock()
	s.res.Problems = append(s.res.Problems, Problem{File: file, Err: err})
	s.mu.Unlock()
}

// identify records a file (or directory) as an input of the result.
func (s *scanner) identify(p string, fi fs.FileInfo) {
	id := FileID{Path: p, Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := statT(fi); ok {
		id.Dev, id.Ino = st[0], st[1]
	}
	s.mu.Lock()
	s.res.Inputs = append(s.res.Inputs, id)
	s.mu.Unlock()
}

// open opens a host file and records its identity from the same descriptor.
func (s *scanner) open(p string) (*os.File, fs.FileInfo, error) {
	f, err := s.root.Open(p)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "read", Path: p, Err: errors.New("is a directory")}
	}
	s.identify(p, fi)
	return f, fi, nil
}

// readSmall reads a configuration file (sources, preferences, Release).
func (s *scanner) readSmall(p string) ([]byte, error) {
	f, _, err := s.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, hostfs.DefaultLimit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	if len(data) > hostfs.DefaultLimit {
		return nil, &fs.PathError{Op: "read", Path: p, Err: hostfs.ErrTooLarge}
	}
	return data, nil
}

// listDir returns the entries of a configuration directory apt would read:
// names of [A-Za-z0-9_.-] with one of the extensions (or none when
// allowBare), sorted; the directory itself is an input (a new file changes
// its mtime).
func (s *scanner) listDir(dir string, exts []string, allowBare bool) []string {
	fi, err := s.root.Stat(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.problem(dir, err)
		}
		return nil
	}
	s.identify(dir, fi)
	names, err := s.root.ReadDirNames(dir)
	if err != nil {
		s.problem(dir, err)
		return nil
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if !validPartName(n) {
			continue
		}
		ext := path.Ext(n)
		ok := ext == "" && allowBare
		for _, e := range exts {
			if ext == e {
				ok = true
			}
		}
		if ok {
			out = append(out, path.Join(dir, n))
		}
	}
	return out
}

func validPartName(n string) bool {
	if n == "" || n[0] == '.' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Scan computes apt's upgradable set from the host's dpkg and apt state.
// Bad inputs become Problems; only a missing or unreadable dpkg status is an
// error, because without it nothing can be said.
func Scan(root *hostfs.Root, cfg Config) (*Result, error) {
	s := &scanner{root: root, cfg: cfg, res: &Result{}}
	pkgs, err := s.readStatus()
	if err != nil {
		return nil, err
	}
	s.native = cfg.Arch
	if s.native == "" {
		s.native = nativeArch(pkgs)
	}
	s.res.Native = s.native
	s.archs = []string{s.native}
	if cfg.ArchFile != "" {
		if data, err := s.readSmall(cfg.ArchFile); err == nil {
			for _, a := range strings.Fields(string(data)) {
				if a != s.native {
					s.archs = append(s.archs, a)
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			s.problem(cfg.ArchFile, err)
		}
	}
	byName := map[string][]*pkgState{}
	for _, p := range pkgs {
		byName[p.inst.Name] = append(byName[p.inst.Name], p)
		s.res.Installed = append(s.res.Installed, p.inst)
	}

	sources := s.readSources()
	pins := s.readPins()
	files := []*PackageFile{{Path: cfg.Status, Archive: "now", NotSource: true}}
	lists := s.listFiles(sources, &files)
	s.res.Lists = len(lists)
	s.readLists(lists, files, byName)
	ApplyGeneralPins(files, pins)
	s.decide(pkgs, files, pins)
	sort.Slice(s.res.Upgrades, func(i, j int) bool {
		a, b := s.res.Upgrades[i], s.res.Upgrades[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	return s.res, nil
}

var statusFields = append([]string{"Package", "Status", "Version", "Architecture", "Source"}, append(hashFields, "Size", "Multi-Arch")...)

// readStatus reads the dpkg status file and status.d (distroless images).
func (s *scanner) readStatus() ([]*pkgState, error) {
	var pkgs []*pkgState
	found := false
	seen := map[string]bool{}
	read := func(p string, statusD bool) error {
		f, _, err := s.open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		found = true
		sr := NewStanzaReader(f, statusFields, false)
		for {
			st, err := sr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			name, status := string(st.Get(0)), strings.Fields(string(st.Get(1)))
			if name == "" {
				return fmt.Errorf("%s: line %d: %w: stanza without a Package field", p, st.Line, ErrSyntax)
			}
			if len(status) != 3 {
				if len(status) == 0 && !st.Has(1) && statusD {
					status = []string{"install", "ok", "installed"} // status.d entries may omit it
				} else {
					return fmt.Errorf("%s: line %d: %w: package %s has status %q (want \"want flag state\")", p, st.Line, ErrSyntax, name, st.Get(1))
				}
			}
			if status[2] == "not-installed" || status[2] == "config-files" {
				continue
			}
			in := Installed{Name: name, Arch: string(st.Get(3)), Version: string(st.Get(2)), Hold: status[0] == "hold"}
			if in.Version == "" || in.Arch == "" {
				return fmt.Errorf("%s: line %d: %w: installed package %s lacks Version or Architecture", p, st.Line, ErrSyntax, name)
			}
			in.Source, in.SourceVersion = in.Name, in.Version
			if src := strings.Fields(string(st.Get(4))); len(src) > 0 {
				in.Source = src[0]
				if len(src) > 1 {
					in.SourceVersion = strings.Trim(src[1], "()")
				}
			}
			key := in.Name + ":" + in.Arch
			if seen[key] {
				continue
			}
			seen[key] = true
			pkgs = append(pkgs, &pkgState{inst: in, instID: buildIDOf(st, 5)})
		}
	}
	if err := read(s.cfg.Status, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.cfg.StatusD != "" {
		if names, err := s.root.ReadDirNames(s.cfg.StatusD); err == nil {
			if fi, err := s.root.Stat(s.cfg.StatusD); err == nil {
				s.identify(s.cfg.StatusD, fi)
			}
			sort.Strings(names)
			for _, n := range names {
				if strings.HasSuffix(n, ".md5sums") || strings.HasPrefix(n, ".") {
					continue
				}
				if err := read(path.Join(s.cfg.StatusD, n), true); err != nil {
					s.problem(path.Join(s.cfg.StatusD, n), err)
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", s.cfg.Status, ErrNoDpkg)
	}
	return pkgs, nil
}

// nativeArch is dpkg's architecture: the one dpkg itself is built for.
func nativeArch(pkgs []*pkgState) string {
	count := map[string]int{}
	for _, p := range pkgs {
		if p.inst.Name == "dpkg" && p.inst.Arch != "all" {
			return p.inst.Arch
		}
		if p.inst.Arch != "all" {
			count[p.inst.Arch]++
		}
	}
	best := ""
	for a, n := range count {
		if n > count[best] || (n == count[best] && a < best) {
			best = a
		}
	}
	return best
}

func (s *scanner) readSources() []Source {
	var out []Source
	one := func(p string, deb822 bool) {
		data, err := s.readSmall(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.problem(p, err)
			}
			return
		}
		var srcs []Source
		if deb822 {
			srcs, err = ParseSources(bytes.NewReader(data), p)
		} else {
			srcs, err = ParseSourcesList(bytes.NewReader(data), p)
		}
		if err != nil {
			s.problem(p, err)
			return
		}
		out = append(out, srcs...)
	}
	one(s.cfg.SourceList, false)
	for _, p := range s.listDir(s.cfg.SourceParts, []string{".list", ".sources"}, false) {
		one(p, strings.HasSuffix(p, ".sources"))
	}
	return out
}

var defaultReleaseRe = regexp.MustCompile(`(?m)^\s*APT::Default-Release\s+"([^"]*)"\s*;`)

func (s *scanner) readPins() []Pin {
	var pins []Pin
	// APT::Default-Release is a general release pin at 990 created before
	// the preferences are read, so it wins over them.
	var confs []string
	if s.cfg.AptConf != "" {
		confs = append(confs, s.cfg.AptConf)
	}
	if s.cfg.AptConfParts != "" {
		confs = append(confs, s.listDir(s.cfg.AptConfParts, []string{".conf"}, true)...)
	}
	defRel := ""
	for _, p := range confs {
		data, err := s.readSmall(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.problem(p, err)
			}
			continue
		}
		if m := defaultReleaseRe.FindSubmatch(data); m != nil {
			defRel = string(m[1])
		}
	}
	if defRel != "" {
		pins = append(pins, Pin{Type: PinRelease, Data: defRel, Priority: 990, File: "APT::Default-Release", rel: parseRelMatch(defRel)})
	}
	one := func(p string) {
		data, err := s.readSmall(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.problem(p, err)
			}
			return
		}
		ps, err := ParsePreferences(bytes.NewReader(data), p)
		if err != nil {
			s.problem(p, err)
			return
		}
		pins = append(pins, ps...)
	}
	one(s.cfg.Preferences)
	for _, p := range s.listDir(s.cfg.PreferencesParts, []string{".pref"}, true) {
		one(p)
	}
	return pins
}

type listFile struct {
	path string
	file int // index into files
}

// listFiles maps the configured sources onto the lists directory: the
// Release metadata of each suite and the Packages list of each component and
// architecture, in whatever compression apt stored it. Lists no source
// accounts for are reported, not used.
func (s *scanner) listFiles(sources []Source, files *[]*PackageFile) []listFile {
	dir := s.cfg.Lists
	fi, err := s.root.Stat(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.problem(dir, err)
		}
		return nil
	}
	s.identify(dir, fi)
	names, err := s.root.ReadDirNames(dir)
	if err != nil {
		s.problem(dir, err)
		return nil
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	claimed := map[string]bool{}
	find := func(base string) string {
		for _, ext := range Compressions {
			if present[base+ext] {
				return base + ext
			}
		}
		return ""
	}
	var out []listFile
	seenIndex := map[string]bool{}
	for _, src := range sources {
		prefix := "dists/" + src.Suite + "/"
		if src.Flat() {
			prefix = strings.TrimPrefix(src.Suite, "./")
		}
		rel := Release{}
		haveRel := false
		for _, name := range []string{"InRelease", "Release"} {
			n := ListFileName(src.URI, prefix+name)
			if !present[n] {
				continue
			}
			claimed[n] = true
			if haveRel {
				continue
			}
			data, err := s.readSmall(path.Join(dir, n))
			if err != nil {
				s.problem(path.Join(dir, n), err)
				continue
			}
			r, err := ParseRelease(data)
			if err != nil {
				s.problem(path.Join(dir, n), err)
				continue
			}
			rel, haveRel = r, true
			if fi, err := s.root.Stat(path.Join(dir, n)); err == nil && fi.ModTime().After(s.res.ListsUpdated) {
				s.res.ListsUpdated = fi.ModTime()
			}
		}
		if present[ListFileName(src.URI, prefix+"Release.gpg")] {
			claimed[ListFileName(src.URI, prefix+"Release.gpg")] = true
		}
		comps := src.Components
		if src.Flat() {
			comps = []string{""}
		}
		archs := src.Archs
		if len(archs) == 0 {
			archs = s.archs
		}
		for _, comp := range comps {
			for _, arch := range append(append([]string(nil), archs...), "all") {
				idx := prefix + comp + "/binary-" + arch + "/Packages"
				if src.Flat() {
					idx = prefix + "Packages"
				}
				base := ListFileName(src.URI, idx)
				n := find(base)
				if n == "" || seenIndex[n] {
					continue
				}
				seenIndex[n] = true
				claimed[n] = true
				pf := &PackageFile{
					Path: path.Join(dir, n), Origin: rel.Origin, Label: rel.Label,
					Archive: rel.Suite, Codename: rel.Codename, RelVersion: rel.Version,
					Component: comp, Arch: arch, Site: Site(src.URI),
					NotAutomatic: rel.NotAutomatic, ButAutomaticUpgrades: rel.ButAutomaticUpgrades,
				}
				*files = append(*files, pf)
				out = append(out, listFile{path: pf.Path, file: len(*files) - 1})
				if src.Flat() {
					break
				}
			}
			if src.Flat() {
				break
			}
		}
	}
	if dirInfo, err := s.root.Stat(path.Join(dir, "partial")); err == nil && dirInfo.ModTime().After(s.res.ListsUpdated) && !s.res.ListsUpdated.IsZero() {
		// apt-get update works in partial/: its mtime is the last update
		// even when every index was unchanged.
		s.res.ListsUpdated = dirInfo.ModTime()
	}
	sort.Strings(names)
	for _, n := range names {
		if claimed[n] || !looksLikeIndex(n) {
			continue
		}
		p := Problem{File: path.Join(dir, n), Orphan: true,
			Err: errors.New("package list of a source that is no longer configured; apt ignores it")}
		if i := strings.LastIndex(n, "_Packages"); i >= 0 {
			if ext := n[i+len("_Packages"):]; ext != "" && !knownCompression(ext) {
				p = Problem{File: path.Join(dir, n), Err: fmt.Errorf("unknown compression %q of a package list", ext)}
			}
		}
		s.res.Problems = append(s.res.Problems, p)
	}
	return out
}

func knownCompression(ext string) bool {
	for _, e := range Compressions {
		if e == ext {
			return true
		}
	}
	return false
}

func looksLikeIndex(n string) bool {
	return strings.Contains(n, "_Packages") || strings.HasSuffix(n, "_InRelease") || strings.HasSuffix(n, "_Release")
}

var listFields = append([]string{"Package", "Version", "Architecture"}, append(hashFields, "Size", "Multi-Arch")...)

type hit struct {
	pkg  *pkgState
	ver  string
	id   buildID
	file int
}

// readLists streams every Packages list in parallel, keeping only versions
// of installed packages.
func (s *scanner) readLists(lists []listFile, files []*PackageFile, byName map[string][]*pkgState) {
	results := make([][]hit, len(lists))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, l := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			hits, err := s.readList(l, files[l.file], byName)
			if err != nil {
				// A list that cannot be read completely is not used at all:
				// half a list would silently give a wrong count.
				s.problem(l.path, err)
				return
			}
			results[i] = hits
		}()
	}
	wg.Wait()
	for _, hits := range results {
		for _, h := range hits {
			h.pkg.add(h.ver, h.id, h.file)
		}
	}
}

func (s *scanner) readList(l listFile, pf *PackageFile, byName map[string][]*pkgState) ([]hit, error) {
	f, _, err := s.open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, closeFn, err := Decompress(l.path, bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return nil, err
	}
	defer closeFn()
	sr := NewStanzaReader(r, listFields, false)
	var hits []hit
	for {
		st, err := sr.Next()
		if err == io.EOF {
			return hits, nil
		}
		if err != nil {
			return nil, err
		}
		cands := byName[string(st.Get(0))]
		if len(cands) == 0 {
			continue
		}
		arch := string(st.Get(2))
		if arch == "all" {
			arch = s.native
		}
		for _, p := range cands {
			ia := p.inst.Arch
			if ia == "all" {
				ia = s.native
			}
			if ia == arch {
				v := st.Get(1)
				if len(v) == 0 {
					return nil, fmt.Errorf("line %d: %w: package %s without a Version", st.Line, ErrSyntax, p.inst.Name)
				}
				hits = append(hits, hit{pkg: p, ver: string(v), id: buildIDOf(st, 3), file: l.file})
			}
		}
	}
}

// add records that file carries version raw of build id, merging it into an
// existing version as apt's cache generator does.
func (p *pkgState) add(raw string, id buildID, file int) *verEntry {
	for _, v := range p.versions {
		if v.raw == raw && v.id.same(id) {
			if len(v.files) == 0 || v.files[len(v.files)-1] != file {
				v.files = append(v.files, file)
			}
			if v.id.size == 0 {
				v.id.size = id.size
			}
			return v
		}
	}
	v := &verEntry{raw: raw, id: id, files: []int{file}}
	p.versions = append(p.versions, v)
	return v
}

// decide runs apt's candidate selection for every installed package.
func (s *scanner) decide(pkgs []*pkgState, files []*PackageFile, pins []Pin) {
	for _, p := range pkgs {
		in := p.inst
		iv, err := ParseVersion(in.Version)
		if err != nil {
			s.problem(s.cfg.Status, fmt.Errorf("installed package %s: %w", in.Name, err))
			continue
		}
		// apt reads the status file last: the installed build merges into
		// an identical list version or becomes a version of its own.
		instEntry := p.add(in.Version, p.instID, 0)
		if len(p.versions) == 1 {
			continue
		}
		cands := make([]Candidate, 0, len(p.versions))
		installed := -1
		for _, ve := range p.versions {
			var pfs []*PackageFile
			for _, i := range ve.files {
				pfs = append(pfs, files[i])
			}
			v := iv
			if ve.raw != in.Version {
				if v, err = ParseVersion(ve.raw); err != nil {
					s.problem(pfs[0].Path, fmt.Errorf("package %s: %w", in.Name, err))
					continue
				}
			}
			if ve == instEntry {
				installed = len(cands)
			}
			cands = append(cands, Candidate{Version: v, Files: pfs})
		}
		if installed < 0 || len(cands) < 2 {
			continue
		}
		// Newest first; builds of one version keep their creation order.
		order := make([]int, len(cands))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool {
			return cands[order[i]].Version.Compare(cands[order[j]].Version) > 0
		})
		sorted := make([]Candidate, len(cands))
		newInstalled := -1
		for i, o := range order {
			sorted[i] = cands[o]
			if o == installed {
				newInstalled = i
			}
		}
		cands, installed = sorted, newInstalled
		pinned := make([]*Pin, len(cands))
		arch := in.Arch
		for i := range cands {
			pinned[i] = SpecificPin(pins, in.Name, arch, s.native, in.Source, &cands[i])
		}
		c := SelectCandidate(cands, installed, pinned)
		candVer := iv
		// apt calls a candidate an upgrade when it sorts before the
		// installed version: newer, or another build of the same version.
		if c >= 0 && c < installed {
			cand := cands[c]
			candVer = cand.Version
			up := Upgrade{Name: in.Name, Arch: in.Arch, Installed: in.Version, Candidate: cand.Version.Raw}
			for _, f := range cand.Files {
				if f.NotSource {
					continue
				}
				up.Security = up.Security || f.Security()
				if f.Archive != "" {
					up.Archives = append(up.Archives, f.Archive)
				}
			}
			s.res.Upgrades = append(s.res.Upgrades, up)
		}
		for _, cd := range cands {
			if cd.Version.Compare(candVer) <= 0 {
				break
			}
			sec := false
			for _, f := range cd.Files {
				sec = sec || (!f.NotSource && f.Security())
			}
			if sec {
				s.res.Masked = append(s.res.Masked, Masked{Name: in.Name, Arch: in.Arch, Candidate: candVer.Raw, SecurityVersion: cd.Version.Raw})
				break
			}
		}
	}
}
