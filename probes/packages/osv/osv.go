// Package osv matches installed distribution packages against an offline
// bundle of OSV advisories (https://ossf.github.io/osv-schema/).
package osv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes/packages/deb"
)

// maxFile bounds one advisory file; whole-ecosystem exports are split into
// one file per advisory.
const maxFile = 64 << 20

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
	ID    string
	CVEs  []string
	Fixed string
}

// DB is a loaded bundle indexed by ecosystem family and package name.
type DB struct {
	byPkg map[string][]*entry
	n     int
}

type entry struct {
	adv *Advisory
	aff *Affected
}

// Len is the number of advisories loaded.
func (db *DB) Len() int { return db.n }

// Load reads a bundle: a directory of .json files (each one advisory or an
// array of them), or one such file.
func Load(p string) (*DB, error) {
	db := &DB{byPkg: map[string][]*entry{}}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	if !fi.IsDir() {
		return db, db.loadFile(p)
	}
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".json") {
			return db.loadFile(f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) loadFile(f string) error {
	fi, err := os.Stat(f)
	if err != nil {
		return fmt.Errorf("OSV bundle: %w", err)
	}
	if fi.Size() > maxFile {
		return fmt.Errorf("OSV bundle %s: larger than %d MiB", f, maxFile>>20)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return fmt.Errorf("OSV bundle: %w", err)
	}
	var advs []*Advisory
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "[") {
		err = json.Unmarshal(data, &advs)
	} else {
		var a Advisory
		err = json.Unmarshal(data, &a)
		advs = []*Advisory{&a}
	}
	if err != nil {
		return fmt.Errorf("OSV bundle %s: %w", f, err)
	}
	for _, a := range advs {
		if a.ID == "" {
			return fmt.Errorf("OSV bundle %s: advisory without an id", f)
		}
		db.n++
		for i := range a.Affected {
			af := &a.Affected[i]
			k := family(af.Package.Ecosystem) + "\x00" + af.Package.Name
			db.byPkg[k] = append(db.byPkg[k], &entry{a, af})
		}
	}
	return nil
}

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
		v := Vuln{ID: e.adv.ID, Fixed: fixed}
		for _, al := range append(append([]string{e.adv.ID}, e.adv.Aliases...), e.adv.Upstream...) {
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
		if r.Type != "ECOSYSTEM" {
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
