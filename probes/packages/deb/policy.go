package deb

import (
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// PackageFile is one source of versions as apt's cache knows it: a Packages
// list with its Release metadata, or the dpkg status file.
type PackageFile struct {
	Path                                         string
	Origin, Label, Archive, Codename, RelVersion string
	Component, Arch, Site                        string
	NotAutomatic, ButAutomaticUpgrades           bool
	// NotSource marks the dpkg status file: versions only it lists cannot
	// be installed.
	NotSource bool
	// Priority is apt's pin priority of the file after general pins.
	Priority int
}

// Security reports a security archive: Debian's Debian-Security label, or
// a "-security" suite or codename (Debian ≥ 11, Ubuntu's -security pocket).
func (f *PackageFile) Security() bool {
	return f.Label == "Debian-Security" ||
		strings.HasSuffix(f.Archive, "-security") || strings.HasSuffix(f.Codename, "-security")
}

// PinType is what a preferences record matches on.
type PinType int

const (
	PinVersion PinType = iota + 1
	PinRelease
	PinOrigin
)

// Pin is one record of apt_preferences(5).
type Pin struct {
	// Packages are the names (globs, /regex/, name:arch, src:name) of a
	// specific pin; empty for a general pin ("Package: *").
	Packages []string
	Type     PinType
	Data     string
	Priority int
	File     string
	Line     int

	rel relMatch
}

// relMatch is a parsed `Pin: release ...` specification (apt's pkgVersionMatch).
type relMatch struct {
	all                                                        bool
	ver, origin, archive, codename, release, label, comp, arch string
	verPrefix                                                  bool
}

// ParsePreferences reads an apt preferences file. Records apt ignores with a
// warning (no Pin, unknown type, priority 0) are skipped the same way.
func ParsePreferences(r io.Reader, file string) ([]Pin, error) {
	paras, err := ReadParagraphs(r, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []Pin
	for _, p := range paras {
		name := p.Get("Package")
		if name == "" {
			// apt refuses the whole file in this case.
			return nil, fmt.Errorf("%s:%d: %w: record without a Package field", file, p.Line, ErrSyntax)
		}
		pinVal, ok := p.Fields["pin"]
		if !ok {
			continue
		}
		word, data, _ := strings.Cut(strings.TrimSpace(pinVal), " ")
		data = strings.TrimSpace(data)
		general := name == "*"
		var typ PinType
		switch strings.ToLower(word) {
		case "version":
			if general {
				continue
			}
			typ = PinVersion
		case "release":
			typ = PinRelease
		case "origin":
			typ = PinOrigin
		default:
			continue
		}
		prio, err := strconv.Atoi(strings.TrimSpace(p.Get("Pin-Priority")))
		if err != nil || prio == 0 {
			continue
		}
		pin := Pin{Type: typ, Data: data, Priority: prio, File: file, Line: p.Line}
		if !general {
			pin.Packages = strings.Fields(name)
		}
		if typ == PinOrigin {
			pin.Data = strings.Trim(data, `"`)
		}
		pin.rel = parseRelMatch(pin.Data)
		out = append(out, pin)
	}
	return out, nil
}

func parseRelMatch(data string) relMatch {
	var m relMatch
	if data == "*" {
		m.all = true
		return m
	}
	if !strings.Contains(data, "=") {
		if data != "" && data[0] >= '0' && data[0] <= '9' {
			m.ver = data
		} else {
			m.release = data
		}
	} else {
		for _, frag := range strings.Split(data, ",") {
			frag = strings.TrimSpace(frag)
			if len(frag) < 3 || frag[1] != '=' {
				continue
			}
			v := frag[2:]
			switch frag[0] | 0x20 {
			case 'v':
				m.ver = v
			case 'o':
				m.origin = v
			case 'a':
				m.archive = v
			case 'n':
				m.codename = v
			case 'l':
				m.label = v
			case 'c':
				m.comp = v
			case 'b':
				m.arch = v
			}
		}
	}
	if strings.HasSuffix(m.ver, "*") {
		m.verPrefix = true
		m.ver = strings.TrimSuffix(m.ver, "*")
	}
	return m
}

// matchVer is apt's MatchVer: case-insensitive equality or prefix.
func matchVer(have, want string, prefix bool) bool {
	if len(have) < len(want) || (!prefix && len(have) != len(want)) {
		return false
	}
	return strings.EqualFold(have[:len(want)], want)
}

// ExpressionMatches is apt's pattern test: /regex/ (extended, case
// insensitive) or an fnmatch glob with FNM_CASEFOLD.
func ExpressionMatches(pattern, s string) bool {
	if len(pattern) >= 2 && pattern[0] == '/' && pattern[len(pattern)-1] == '/' {
		re, err := regexp.Compile("(?i)" + pattern[1:len(pattern)-1])
		return err == nil && re.MatchString(s)
	}
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(s))
	return err == nil && ok
}

// FileMatch is apt's pkgVersionMatch::FileMatch for release and origin pins.
func (p *Pin) FileMatch(f *PackageFile) bool {
	switch p.Type {
	case PinOrigin:
		if p.Data == "" && f.NotSource {
			return false // origin "" means file: sources, not the status file
		}
		return ExpressionMatches(p.Data, f.Site)
	case PinRelease:
		m := &p.rel
		if m.all {
			return true
		}
		if m.ver == "" && m.origin == "" && m.archive == "" && m.codename == "" &&
			m.release == "" && m.label == "" && m.comp == "" && m.arch == "" {
			return false
		}
		field := func(want, have string) bool {
			return want == "" || (have != "" && ExpressionMatches(want, have))
		}
		if m.ver != "" && (f.RelVersion == "" ||
			(!matchVer(f.RelVersion, m.ver, m.verPrefix) && !ExpressionMatches(m.ver, f.RelVersion))) {
			return false
		}
		if !field(m.origin, f.Origin) || !field(m.archive, f.Archive) || !field(m.codename, f.Codename) {
			return false
		}
		if m.release != "" && !(f.Archive != "" && ExpressionMatches(m.release, f.Archive)) &&
			!(f.Codename != "" && ExpressionMatches(m.release, f.Codename)) {
			return false
		}
		return field(m.label, f.Label) && field(m.comp, f.Component) && field(m.arch, f.Arch)
	}
	return false
}

// versionMatch is apt's pkgVersionMatch::VersionMatches.
func (p *Pin) versionMatch(ver string, files []*PackageFile) bool {
	if p.Type == PinVersion {
		want, prefix := p.Data, false
		if strings.HasSuffix(want, "*") {
			want, prefix = strings.TrimSuffix(want, "*"), true
		}
		return matchVer(ver, want, prefix) || ExpressionMatches(want, ver)
	}
	for _, f := range files {
		if p.FileMatch(f) {
			return true
		}
	}
	return false
}

// appliesTo reports whether a specific pin names the package (name, arch,
// source) the way apt's CreatePin expands it: a bare name pins the native
// architecture only, name:arch that one, name:any all; globs and /regex/
// match names; src:name matches the source package.
func (p *Pin) appliesTo(name, arch, native, source string) bool {
	for _, pat := range p.Packages {
		isSrc := strings.HasPrefix(pat, "src:")
		pat = strings.TrimPrefix(pat, "src:")
		wantArch := ""
		if i := strings.LastIndexByte(pat, ':'); i >= 0 {
			pat, wantArch = pat[:i], pat[i+1:]
		}
		subject := name
		if isSrc {
			subject = source
		}
		nameOK := pat == subject
		if !nameOK && ((len(pat) > 1 && pat[0] == '/' && pat[len(pat)-1] == '/') || strings.ContainsAny(pat, "*[?")) {
			nameOK = ExpressionMatches(pat, subject)
		}
		if !nameOK {
			continue
		}
		switch wantArch {
		case "":
			if arch == native || arch == "all" {
				return true
			}
		case "any":
			return true
		default:
			if ExpressionMatches(wantArch, arch) {
				return true
			}
		}
	}
	return false
}

// ApplyGeneralPins sets each file's priority: apt's defaults (500, 100 for
// the status file and ButAutomaticUpgrades archives, 1 for NotAutomatic),
// then the first general pin that matches it.
func ApplyGeneralPins(files []*PackageFile, pins []Pin) {
	for _, f := range files {
		switch {
		case f.NotSource:
			f.Priority = 100
		case f.ButAutomaticUpgrades:
			f.Priority = 100
		case f.NotAutomatic:
			f.Priority = 1
		default:
			f.Priority = 500
		}
		for i := range pins {
			if pins[i].Packages == nil && pins[i].FileMatch(f) {
				f.Priority = pins[i].Priority
				break
			}
		}
	}
}

// neverPin is apt's NEVER_PIN.
const neverPin = -32768

// Candidate is a version of a package with the files that carry it.
type Candidate struct {
	Version Version
	Files   []*PackageFile
}

// SelectCandidate is apt's pkgPolicy::GetCandidateVer. versions must be
// sorted newest first; installed is the index of the installed version in
// versions or -1. It returns the candidate's index, or -1 for none.
func SelectCandidate(versions []Candidate, installed int, pinned []*Pin) int {
	max, maxAlt := 0, 0
	pref, prefAlt := -1, -1
	for i := range versions {
		prio := versionPriority(&versions[i], i == installed, pinned[i])
		if prio > max {
			pref, max = i, prio
		}
		if prio > maxAlt {
			prefAlt, maxAlt = i, prio
		}
		if i == installed && max < 1000 {
			// The installed version is held at 1000: only a priority above
			// that (a downgrade pin) can replace it from here on. apt stops
			// here unless some priority exceeds 1000; scanning on is the
			// same, since nothing else can win.
			if pref < 0 {
				pref = i
			}
			max = 1000
		}
	}
	if pref < 0 && maxAlt > 0 {
		pref = prefAlt
	}
	return pref
}

func versionPriority(c *Candidate, installed bool, pin *Pin) int {
	if pin != nil {
		if pin.Priority == neverPin {
			return neverPin
		}
		for _, f := range c.Files {
			if f.Priority != neverPin {
				return pin.Priority
			}
		}
	}
	prio, any := 0, false
	for _, f := range c.Files {
		if f.NotSource && !installed {
			continue
		}
		if !any || f.Priority > prio {
			prio, any = f.Priority, true
		}
	}
	return prio
}

// SpecificPin returns the first specific pin that applies to this version of
// the package, as apt copies the first match into each version.
func SpecificPin(pins []Pin, name, arch, native, source string, c *Candidate) *Pin {
	for i := range pins {
		p := &pins[i]
		if p.Packages == nil || !p.appliesTo(name, arch, native, source) {
			continue
		}
		if p.versionMatch(c.Version.Raw, c.Files) {
			return p
		}
	}
	return nil
}
