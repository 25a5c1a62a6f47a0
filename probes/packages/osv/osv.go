// Package osv matches installed distribution packages against an offline
// bundle of OSV advisories (https://ossf.github.io/osv-schema/).
package osv

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/nodeguard/nodeguard/probes/packages/deb"
)

// Advisory is the part of an OSV record matching needs.
type Advisory struct {
	ID       string     `json:"id"`
	Aliases  []string   `json:"aliases"`
	Upstream []string   `json:"upstream"`
	Affected []Affected `json:"affected"`
}

// Affected is one affected package of an advisory.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []struct {
		Type   string  `json:"type"`
		Events []Event `json:"events"`
	} `json:"ranges"`
	Versions []string `json:"versions"`
}

// Event is an OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Vuln is a matched advisory.
type Vuln struct {
	ID string
	// Aliases are the advisory's other identifiers: its aliases and upstream
	// ids, as the record lists them.
	Aliases []string
	CVEs    []string
	Fixed   string
}

// Distinct counts the vulnerabilities among matched advisories: two
// advisories are one vulnerability when they share an identifier (their id,
// an alias or an upstream id), directly or through a third, so that
// GO-2024-2491 and GHSA-xr7r-f8xq-vfvv (both CVE-2024-21626) count once, as
// do a DSA and the per-CVE records of the distribution it covers, and one
// advisory matched twice (two affected entries, two modules of a binary).
// group[i] is the vulnerability of vs[i], numbered 0..n-1 in order of first
// appearance in vs.
func Distinct(vs []Vuln) (group []int, n int) {
	parent := make([]int, len(vs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{} // identifier → an advisory naming it
	for i, v := range vs {
		for _, id := range append([]string{v.ID}, v.Aliases...) {
			if j, ok := owner[id]; ok {
				// The root with the smaller index wins, so that numbering
				// follows first appearance.
				a, b := find(i), find(j)
				parent[max(a, b)] = min(a, b)
			} else {
				owner[id] = i
			}
		}
	}
	group = make([]int, len(vs))
	num := map[int]int{}
	for i := range vs {
		r := find(i)
		g, ok := num[r]
		if !ok {
			g = len(num)
			num[r] = g
		}
		group[i] = g
	}
	return group, len(num)
}

// DB is a loaded bundle indexed by ecosystem family and package name.
type DB struct {
	byPkg    map[string][]*entry
	n        int      // advisories read
	kept     int      // of them, those naming a wanted package
	badCount int      // files skipped as malformed
	bad      []string // the first MaxBadNames of them, sorted
}

type entry struct {
	adv *Advisory
	aff *Affected
}

// Len is the number of advisories read (kept or not).
func (db *DB) Len() int { return db.n }

// family is the ecosystem without its release ("Debian:12" → "Debian").
func family(eco string) string {
	f, _, _ := strings.Cut(eco, ":")
	return f
}

// ecosystemMatches accepts "Ubuntu:22.04:LTS" for the host's "Ubuntu:22.04".
func ecosystemMatches(have, want string) bool {
	return have == want || strings.HasPrefix(have, want+":")
}

// compare orders versions of an ecosystem family.
func compare(fam, a, b string) (int, error) {
	switch fam {
	case "Debian", "Ubuntu":
		va, err := deb.ParseVersion(a)
		if err != nil {
			return 0, err
		}
		vb, err := deb.ParseVersion(b)
		if err != nil {
			return 0, err
		}
		return va.Compare(vb), nil
	case "Alpine":
		return CompareAPK(a, b), nil
	case "Go":
		va, vb := GoSemver(a), GoSemver(b)
		if !semver.IsValid(va) {
			return 0, fmt.Errorf("invalid Go version %q", a)
		}
		if !semver.IsValid(vb) {
			return 0, fmt.Errorf("invalid Go version %q", b)
		}
		return semver.Compare(va, vb), nil
	}
	return 0, fmt.Errorf("ecosystem %s is not supported", fam)
}

// Match returns the advisories that affect name at version in ecosystem eco.
func (db *DB) Match(eco, name, version string) ([]Vuln, error) {
	fam := family(eco)
	var out []Vuln
	var errs []error
	for _, e := range db.byPkg[fam+"\x00"+name] {
		if !ecosystemMatches(e.aff.Package.Ecosystem, eco) {
			continue
		}
		hit, fixed, err := affects(fam, e.aff, version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.adv.ID, err))
			continue
		}
		if !hit {
			continue
		}
		v := Vuln{ID: e.adv.ID, Fixed: fixed, Aliases: append(append([]string(nil), e.adv.Aliases...), e.adv.Upstream...)}
		for _, al := range append([]string{e.adv.ID}, v.Aliases...) {
			if strings.HasPrefix(al, "CVE-") {
				v.CVEs = append(v.CVEs, al)
			}
		}
		sort.Strings(v.CVEs)
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, errors.Join(errs...)
}

// affects evaluates an OSV affected entry for one version: listed versions,
// then ECOSYSTEM ranges walked in version order.
func affects(fam string, af *Affected, version string) (bool, string, error) {
	for _, v := range af.Versions {
		if v == version {
			return true, "", nil
		}
	}
	for _, r := range af.Ranges {
		// The Go vulnerability database writes SEMVER ranges.
		if r.Type != "ECOSYSTEM" && (r.Type != "SEMVER" || fam != "Go") {
			continue
		}
		affected, fixed := false, ""
		for _, ev := range r.Events {
			switch {
			case ev.Introduced != "":
				c := 1
				if ev.Introduced != "0" {
					var err error
					if c, err = compare(fam, version, ev.Introduced); err != nil {
						return false, "", err
					}
				}
				if c >= 0 {
					affected = true
				}
			case ev.Fixed != "":
				c, err := compare(fam, version, ev.Fixed)
				if err != nil {
					return false, "", err
				}
				if c >= 0 {
					affected = false
				} else if affected && fixed == "" {
					fixed = ev.Fixed
				}
			case ev.LastAffected != "":
				c, err := compare(fam, version, ev.LastAffected)
				if err != nil {
					return false, "", err
				}
				if c > 0 {
					affected = false
				}
			case ev.Limit != "":
				c, err := compare(fam, version, ev.Limit)
				if err != nil {
					return false, "", err
				}
				if c >= 0 {
					affected = false
				}
			}
		}
		if affected {
			return true, fixed, nil
		}
	}
	return false, "", nil
}

// GoSemver turns the versions Go binaries and the Go vulnerability database
// write into semver: module versions ("v1.1.11", or "1.1.11" in OSV ranges)
// and toolchain versions ("go1.22.1", "go1.21rc2", "go1.21").
func GoSemver(v string) string {
	if t, ok := strings.CutPrefix(v, "go"); ok {
		pre := ""
		for _, p := range []string{"rc", "beta"} {
			if i := strings.Index(t, p); i > 0 {
				t, pre = t[:i], "-"+p+"."+t[i+len(p):]
				break
			}
		}
		if strings.Count(t, ".") == 1 {
			t += ".0"
		}
		return "v" + t + pre
	}
	if !strings.HasPrefix(v, "v") {
		return "v" + v
	}
	return v
}
