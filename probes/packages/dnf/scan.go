// Package dnf computes the pending updates of RPM hosts from the repository
// metadata dnf, dnf5 or yum left in their caches, offline, as `dnf
// check-update` would from the same cache: the candidate of an installed
// package is the highest EVR of the same name and a compatible arch among
// the enabled repos' packages, less the excluded ones; it is a security
// update when a security advisory of updateinfo ships a version newer than
// the installed one and no newer than the candidate.
package dnf

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

// Problem is bad input that was skipped; File names it.
type Problem struct {
	File string
	Err  error
}

func (p Problem) Error() string {
	if strings.HasPrefix(p.Err.Error(), p.File) {
		return p.Err.Error()
	}
	return p.File + ": " + p.Err.Error()
}

// Update is an installed package with a newer candidate.
type Update struct {
	Name, Arch, Installed, Candidate, Repo string
	Security                               bool
	Advisories                             []string
}

// Masked is a security fix that excludes keep from being installed.
type Masked struct {
	Name, Arch, Installed, SecurityVersion, Advisory string
}

// Result is what the repo caches say about the host's patch level.
type Result struct {
	Sources  []string // cache layouts read (SourceDNF ...)
	Repos    []string // enabled repos whose cache was read
	Uncached []string // enabled repos without a usable cache
	Updates  []Update
	Masked   []Masked
	Problems []Problem
	// Updated is the oldest repomd.xml among the repos read: every count
	// is at least as fresh as this.
	Updated time.Time
	// Inputs are the files the result was computed from.
	Inputs []string
}

// Known reports whether any enabled repo had a cache: without one the
// pending updates are unknown, not zero.
func (r *Result) Known() bool { return len(r.Repos) > 0 }

// archCompatible: dnf upgrades within an arch, and between noarch and any
// arch; x86_64 and i686 builds of a package are kept apart.
func archCompatible(a, b string) bool { return a == b || a == "noarch" || b == "noarch" }

// excluded matches dnf's exclude globs against a package's name and NEVRA
// forms.
func excluded(globs []string, a Available) bool {
	if len(globs) == 0 {
		return false
	}
	e, vr := "", a.EVR
	if i := strings.IndexByte(a.EVR, ':'); i >= 0 {
		e, vr = a.EVR[:i], a.EVR[i+1:]
	}
	forms := []string{a.Name, a.Name + "." + a.Arch, a.Name + "-" + vr, a.Name + "-" + vr + "." + a.Arch}
	if e != "" {
		forms = append(forms, a.Name+"-"+e+":"+vr, a.Name+"-"+e+":"+vr+"."+a.Arch)
	}
	for _, g := range globs {
		for _, f := range forms {
			if ok, _ := path.Match(g, f); ok {
				return true
			}
		}
	}
	return false
}

// Scan reads the enabled repos' caches and compares them with installed.
func Scan(root *hostfs.Root, installed []rpm.Package) *Result {
	res := &Result{}
	cfg, problems := ReadConfig(root)
	res.Problems = append(res.Problems, problems...)
	res.Inputs = append(res.Inputs, cfg.Inputs...)
	names := map[string]bool{}
	for _, p := range installed {
		names[p.Name] = true
	}
	want := func(n string) bool { return names[n] }
	enabled := map[string]Repo{}
	ids := map[string]bool{}
	for _, r := range cfg.Repos {
		if r.Enabled {
			enabled[r.ID] = r
			ids[r.ID] = true
		}
	}
	var dirs []string
	caches := findCaches(root, cfg, ids, &dirs)
	res.Inputs = append(res.Inputs, dirs...)
	var avail, excl []Available
	var fixes []Fix
	sources := map[string]bool{}
	for _, id := range sortedKeys(ids) {
		c, ok := caches[id]
		if !ok {
			res.Uncached = append(res.Uncached, id)
			continue
		}
		repo := enabled[id]
		var got []Available
		fs, err := readRepo(root, c, want, func(a Available) { got = append(got, a) })
		if err != nil {
			res.Problems = append(res.Problems, Problem{File: err.file, Err: err.err})
			res.Uncached = append(res.Uncached, id)
			continue
		}
		res.Inputs = append(res.Inputs, c.Dir, path.Dir(c.Repomd), c.Repomd)
		res.Inputs = append(res.Inputs, fs.inputs...)
		if fs.updateinfoErr != nil {
			// Without updateinfo the upgradable count still holds, but no
			// security count could be trusted.
			res.Problems = append(res.Problems, *fs.updateinfoErr)
		}
		for _, a := range got {
			if excluded(cfg.Exclude, a) || excluded(repo.Exclude, a) || len(repo.Include) > 0 && !excluded(repo.Include, a) {
				excl = append(excl, a)
				continue
			}
			avail = append(avail, a)
		}
		fixes = append(fixes, fs.fixes...)
		res.Repos = append(res.Repos, id)
		sources[c.Source] = true
		if res.Updated.IsZero() || c.Modified.Before(res.Updated) {
			res.Updated = c.Modified
		}
	}
	res.Sources = sortedKeys(sources)
	computeUpdates(res, installed, avail, excl, fixes)
	return res
}

type repoFiles struct {
	inputs        []string
	fixes         []Fix
	updateinfoErr *Problem
}

type fileErr struct {
	file string
	err  error
}

// readRepo reads one repo's primary (XML preferred, as dnf reads it, else
// yum's sqlite) and its updateinfo.
func readRepo(root *hostfs.Root, c repoCache, want func(string) bool, fn func(Available)) (repoFiles, *fileErr) {
	var out repoFiles
	md, err := readRepomd(root, c.Repomd)
	if err != nil {
		return out, &fileErr{c.Repomd, err}
	}
	if p, _, ok := metadataFile(root, c, md, "primary"); ok {
		r, done, err := openMetadata(root, p)
		if err != nil {
			return out, &fileErr{p, err}
		}
		err = parsePrimaryXML(r, c.Repo, want, fn)
		done()
		if err != nil {
			return out, &fileErr{p, err}
		}
		out.inputs = append(out.inputs, p)
	} else if p, _, ok := metadataFile(root, c, md, "primary_db"); ok {
		if err := parsePrimarySQLite(root, p, c.Repo, want, fn); err != nil {
			return out, &fileErr{p, err}
		}
		out.inputs = append(out.inputs, p)
	} else {
		return out, &fileErr{c.Repomd, errors.New("the cache holds no primary metadata file that repomd.xml lists (incomplete download, or zchunk metadata); the repo's packages are unknown")}
	}
	if p, _, ok := metadataFile(root, c, md, "updateinfo"); ok {
		r, done, err := openMetadata(root, p)
		if err == nil {
			out.fixes, err = parseUpdateinfo(r, want)
			done()
		}
		if err != nil {
			out.updateinfoErr = &Problem{File: p, Err: fmt.Errorf("security advisories unreadable, security counts of repo %s are missing: %w", c.Repo, err)}
		}
		out.inputs = append(out.inputs, p)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// computeUpdates finds each installed package's candidate and whether a
// security advisory lies between the two.
func computeUpdates(res *Result, installed []rpm.Package, avail, excl []Available, fixes []Fix) {
	type key struct{ name, arch string }
	// Install-only packages (kernels) keep several versions: the newest counts.
	newest := map[key]string{}
	for _, p := range installed {
		k := key{p.Name, p.Arch}
		if cur, ok := newest[k]; !ok || rpm.CompareEVR(p.EVR(), cur) > 0 {
			newest[k] = p.EVR()
		}
	}
	byName := map[string][]Available{}
	for _, a := range avail {
		byName[a.Name] = append(byName[a.Name], a)
	}
	exclByName := map[string][]Available{}
	for _, a := range excl {
		exclByName[a.Name] = append(exclByName[a.Name], a)
	}
	fixByName := map[string][]Fix{}
	for _, f := range fixes {
		fixByName[f.Name] = append(fixByName[f.Name], f)
	}
	keys := make([]key, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].arch < keys[j].arch
	})
	for _, k := range keys {
		inst := newest[k]
		var best *Available
		for i, a := range byName[k.name] {
			if !archCompatible(k.arch, a.Arch) {
				continue
			}
			if best == nil || rpm.CompareEVR(a.EVR, best.EVR) > 0 {
				best = &byName[k.name][i]
			}
		}
		cand := inst
		if best != nil && rpm.CompareEVR(best.EVR, inst) > 0 {
			u := Update{Name: k.name, Arch: best.Arch, Installed: inst, Candidate: best.EVR, Repo: best.Repo}
			for _, f := range fixByName[k.name] {
				if f.Arch != "" && !archCompatible(k.arch, f.Arch) && !archCompatible(best.Arch, f.Arch) {
					continue
				}
				if rpm.CompareEVR(f.EVR, inst) > 0 && rpm.CompareEVR(f.EVR, best.EVR) <= 0 {
					u.Security = true
					u.Advisories = append(u.Advisories, f.Advisory)
				}
			}
			sort.Strings(u.Advisories)
			u.Advisories = dedupe(u.Advisories)
			res.Updates = append(res.Updates, u)
			cand = best.EVR
		}
		// A security version beyond the candidate that an exclude hides.
		for _, a := range exclByName[k.name] {
			if !archCompatible(k.arch, a.Arch) || rpm.CompareEVR(a.EVR, cand) <= 0 {
				continue
			}
			for _, f := range fixByName[k.name] {
				if f.EVR == a.EVR && (f.Arch == "" || archCompatible(a.Arch, f.Arch)) {
					res.Masked = append(res.Masked, Masked{Name: k.name, Arch: a.Arch, Installed: inst, SecurityVersion: a.EVR, Advisory: f.Advisory})
					break
				}
			}
		}
	}
	res.Masked = dedupeMasked(res.Masked)
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// dedupeMasked keeps one entry per package and arch: the newest hidden fix.
func dedupeMasked(ms []Masked) []Masked {
	best := map[[2]string]Masked{}
	var order [][2]string
	for _, m := range ms {
		k := [2]string{m.Name, m.Arch}
		cur, ok := best[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || rpm.CompareEVR(m.SecurityVersion, cur.SecurityVersion) > 0 {
			best[k] = m
		}
	}
	out := make([]Masked, 0, len(order))
	for _, k := range order {
		out = append(out, best[k])
	}
	return out
}
