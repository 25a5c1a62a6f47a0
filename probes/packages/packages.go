// Package packages judges the host's patch level offline, from what its
// package manager already knows: installed packages from dpkg, rpm or apk;
// for Debian and Ubuntu the upgradable set exactly as apt computes it from
// the lists `apt-get update` left behind; whether a reboot is pending; and,
// with an OSV advisory bundle, which installed versions have known
// vulnerabilities.
package packages

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/agent/finding"
	"github.com/nodeguard/nodeguard/agent/hostfs"
	"github.com/nodeguard/nodeguard/agent/policy"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/packages/apk"
	"github.com/nodeguard/nodeguard/probes/packages/deb"
	"github.com/nodeguard/nodeguard/probes/packages/osv"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

// Name is the probe's id.
const Name = "packages"

// Finding ids of this probe.
const (
	IDSecurityUpdates = "packages.security-updates"
	IDRebootRequired  = "packages.reboot-required"
	IDInventory       = "packages.inventory"
	IDInput           = "packages.input"
	IDVulnerability   = "packages.vulnerability"
)

// References of the checks.
var (
	refPatch  = "CIS Distribution Independent Linux 1.8"
	refGuide  = "Kubernetes security guidance 4.1"
	patchRefs = []string{refPatch, refGuide}
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{now: time.Now} }) }

// Probe caches the last dpkg/apt evaluation: when none of its input files
// changed (same device, inode, size and mtime) a rescan reuses it.
type Probe struct {
	now    func() time.Time
	cached *deb.Result
	osvKey string
	osvDB  *osv.DB
}

func (*Probe) Name() string { return Name }

// pkg is an installed package in manager-neutral form.
type pkg struct {
	Name, Version, Arch, Source, SourceVersion string
}

// inventory is what one package manager told us.
type inventory struct {
	manager  string // dpkg, rpm, apk
	db       string // the database file, for messages
	packages []pkg
	// Updates are known only for dpkg/apt; elsewhere the counts are unknown.
	updatesKnown bool
	updates      []deb.Upgrade
	masked       []deb.Masked
	lists        int
	listsUpdated time.Time
	problems     []deb.Problem
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	d := readDistro(env.Root)
	inv, err := p.inventory(env.Root)
	var out []finding.Finding
	if err != nil {
		out = append(out, finding.ErrorFinding(Name, IDInventory, "Installed packages could not be read", err))
		return out
	}
	if inv == nil {
		f := finding.Finding{ID: IDInventory, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title:    "No package database",
			Message:  fmt.Sprintf("%s has no dpkg, rpm or apk database; patch levels cannot be judged", d),
			Evidence: map[string]string{"distribution": d.String()}}
		return append(out, f)
	}
	for _, pr := range inv.problems {
		out = append(out, problemFinding(pr))
	}
	now := p.now()
	out = append(out, inventoryFinding(pol, d, inv, now))
	out = append(out, updatesFinding(pol, inv, now))
	out = append(out, rebootFinding(pol, env.Root, inv))
	out = append(out, p.vulnerabilityFindings(pol, d, inv)...)
	return out
}

// inventory reads whichever package database the host has, dpkg first.
func (p *Probe) inventory(root *hostfs.Root) (*inventory, error) {
	cfg := deb.DefaultConfig()
	if root.Exists(cfg.Status) || root.Exists(cfg.StatusD) {
		res := p.cached
		if res == nil || !unchanged(root, res.Inputs) {
			var err error
			res, err = deb.Scan(root, cfg)
			if err != nil {
				p.cached = nil
				return nil, err
			}
			p.cached = res
		}
		inv := &inventory{manager: "dpkg", db: cfg.Status, updatesKnown: true,
			updates: res.Upgrades, masked: res.Masked, lists: res.Lists,
			listsUpdated: res.ListsUpdated, problems: res.Problems}
		for _, in := range res.Installed {
			inv.packages = append(inv.packages, pkg{in.Name, in.Version, in.Arch, in.Source, in.SourceVersion})
		}
		if res.Lists == 0 {
			// Without lists apt knows no candidates: the count is unknown, not zero.
			inv.updatesKnown = false
		}
		return inv, nil
	}
	if root.Exists(apk.Path) {
		f, err := root.Open(apk.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pkgs, err := apk.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", apk.Path, err)
		}
		inv := &inventory{manager: "apk", db: apk.Path}
		for _, a := range pkgs {
			inv.packages = append(inv.packages, pkg{a.Name, a.Version, a.Arch, a.Origin, a.Version})
		}
		return inv, nil
	}
	for _, db := range rpm.Paths {
		if !root.Exists(db) {
			continue
		}
		pkgs, err := rpm.Read(root, db)
		if err != nil {
			return nil, err
		}
		inv := &inventory{manager: "rpm", db: db}
		for _, r := range pkgs {
			inv.packages = append(inv.packages, pkg{r.Name, r.EVR(), r.Arch, r.SourceName(), r.EVR()})
		}
		return inv, nil
	}
	return nil, nil
}

// unchanged reports whether every input still has the identity it had.
func unchanged(root *hostfs.Root, inputs []deb.FileID) bool {
	for _, in := range inputs {
		fi, err := root.Stat(in.Path)
		if err != nil {
			return false
		}
		id := fileID(in.Path, fi)
		if id != in {
			return false
		}
	}
	return true
}

func fileID(p string, fi fs.FileInfo) deb.FileID {
	id := deb.FileID{Path: p, Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := statIDs(fi); ok {
		id.Dev, id.Ino = st[0], st[1]
	}
	return id
}

func problemFinding(pr deb.Problem) finding.Finding {
	title := "Package data could not be read"
	f := finding.ErrorFinding(Name, IDInput, title, pr)
	if pr.Orphan {
		f.Title = "Package list of an unconfigured source"
		f.Severity = finding.Low
		f.Remediation = "Run apt-get update, which removes lists of sources that are no longer configured."
	} else {
		f.Remediation = "Repair or regenerate the file (apt-get update for package lists); it was left out of the counts."
	}
	f.Evidence = map[string]string{"file": pr.File}
	return f
}

func listsAge(inv *inventory, now time.Time) (time.Duration, bool) {
	if inv.listsUpdated.IsZero() {
		return 0, false
	}
	age := now.Sub(inv.listsUpdated)
	if age < 0 {
		age = 0
	}
	return age, true
}

func inventoryFinding(pol *Policy, d distro, inv *inventory, now time.Time) finding.Finding {
	f := finding.Finding{ID: IDInventory, Probe: Name, Status: finding.Pass, Severity: finding.Info,
		Title: "Package inventory", References: patchRefs,
		Evidence: map[string]string{
			"distribution": d.String(), "package_manager": inv.manager, "database": inv.db,
			"packages": strconv.Itoa(len(inv.packages)),
		}}
	f.Message = fmt.Sprintf("%s: %d packages installed (%s)", d, len(inv.packages), inv.manager)
	if inv.manager == "dpkg" {
		f.Evidence["lists"] = strconv.Itoa(inv.lists)
	}
	if age, ok := listsAge(inv, now); ok {
		f.Evidence["lists_age_seconds"] = strconv.FormatInt(int64(age.Seconds()), 10)
		f.Evidence["lists_updated"] = inv.listsUpdated.UTC().Format(time.RFC3339)
		f.Message += fmt.Sprintf("; package lists updated %s ago", age.Round(time.Minute))
		if age > pol.staleAfter {
			f.Status, f.Severity = finding.Fail, pol.StaleListsSeverity
			f.Title = "Package lists are stale"
			f.Message += fmt.Sprintf(", more than %s: pending-update counts may be too low", pol.staleAfter)
			f.Remediation = "Run apt-get update regularly (apt-daily.timer or unattended-upgrades)."
			f.Evidence["stale"] = "true"
		} else {
			f.Evidence["stale"] = "false"
		}
	} else if inv.manager == "dpkg" {
		f.Message += "; no package lists of a configured source (apt-get update never ran?)"
	}
	return f
}

func names(ups []deb.Upgrade, max int, onlySecurity bool) string {
	var ns []string
	for _, u := range ups {
		if onlySecurity && !u.Security {
			continue
		}
		ns = append(ns, u.Name)
	}
	return limitNames(ns, max)
}

func limitNames(ns []string, max int) string {
	sort.Strings(ns)
	ns = dedupe(ns)
	if len(ns) > max {
		ns = append(ns[:max:max], fmt.Sprintf("(+%d more)", len(ns)-max))
	}
	return strings.Join(ns, ",")
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

func updatesFinding(pol *Policy, inv *inventory, now time.Time) finding.Finding {
	f := finding.Finding{ID: IDSecurityUpdates, Probe: Name, References: patchRefs, Evidence: map[string]string{}}
	if !inv.updatesKnown {
		f.Status, f.Severity = finding.Skip, finding.Info
		f.Title = "Pending updates unknown"
		switch inv.manager {
		case "dpkg":
			f.Message = "apt has no package lists for the configured sources, so pending updates cannot be told"
		default:
			f.Message = fmt.Sprintf("pending updates of %s hosts are not judged offline; the count is unknown, not zero", inv.manager)
		}
		f.Evidence["upgradable"], f.Evidence["security"], f.Evidence["masked_security"] = "unknown", "unknown", "unknown"
		return f
	}
	sec := 0
	for _, u := range inv.updates {
		if u.Security {
			sec++
		}
	}
	f.Evidence["upgradable"] = strconv.Itoa(len(inv.updates))
	f.Evidence["security"] = strconv.Itoa(sec)
	f.Evidence["masked_security"] = strconv.Itoa(len(inv.masked))
	f.Evidence["packages"] = names(inv.updates, pol.MaxNames, false)
	f.Evidence["security_packages"] = names(inv.updates, pol.MaxNames, true)
	var masked []string
	for _, m := range inv.masked {
		masked = append(masked, m.Name)
	}
	f.Evidence["masked_packages"] = limitNames(masked, pol.MaxNames)
	stale := false
	if age, ok := listsAge(inv, now); ok {
		f.Evidence["lists_age_seconds"] = strconv.FormatInt(int64(age.Seconds()), 10)
		stale = age > pol.staleAfter
	}
	f.Evidence["stale"] = strconv.FormatBool(stale)
	staleNote := ""
	if stale {
		staleNote = fmt.Sprintf(" (from package lists older than %s: there may be more)", pol.staleAfter)
	}
	switch {
	case sec > 0 || len(inv.masked) > 0:
		f.Status, f.Severity = finding.Fail, pol.SecurityUpdatesSeverity
		f.Title = "Security updates pending"
		f.Message = fmt.Sprintf("%d of %d upgradable packages have security updates (%s)", sec, len(inv.updates), f.Evidence["security_packages"])
		if len(inv.masked) > 0 {
			f.Message += fmt.Sprintf("; %d more have a newer security version that pinning keeps from being installed (%s)",
				len(inv.masked), f.Evidence["masked_packages"])
		}
		f.Remediation = "Install the updates (apt-get upgrade, or let unattended-upgrades do it) and drain and reboot the node if the kernel or libc changed; review pins that hold back security versions."
	default:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "No security updates pending"
		f.Message = fmt.Sprintf("no security updates pending; %d other upgradable packages", len(inv.updates))
	}
	f.Message += staleNote
	return f
}

// vulnerabilityFindings matches installed source packages against the OSV
// bundle of the policy.
func (p *Probe) vulnerabilityFindings(pol *Policy, d distro, inv *inventory) []finding.Finding {
	if pol.OSVBundle == "" {
		return nil
	}
	if p.osvDB == nil || p.osvKey != pol.OSVBundle {
		db, err := osv.Load(pol.OSVBundle)
		if err != nil {
			return []finding.Finding{finding.ErrorFinding(Name, IDVulnerability, "OSV advisory bundle could not be read", err)}
		}
		p.osvDB, p.osvKey = db, pol.OSVBundle
	}
	eco, ok := ecosystem(d, inv.manager)
	if !ok {
		f := finding.Finding{ID: IDVulnerability, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title: "No OSV ecosystem for this distribution", Message: fmt.Sprintf("%s (%s) has no OSV ecosystem the bundle can match", d, inv.manager),
			Evidence: map[string]string{"distribution": d.String()}}
		return []finding.Finding{f}
	}
	// One source package is built into many binaries: match each source once.
	type src struct{ name, version string }
	bins := map[src][]string{}
	for _, pk := range inv.packages {
		k := src{pk.Source, pk.SourceVersion}
		bins[k] = append(bins[k], pk.Name)
	}
	var out []finding.Finding
	errs := 0
	for k, bs := range bins {
		vulns, err := p.osvDB.Match(eco, k.name, k.version)
		if err != nil {
			errs++
			continue
		}
		if len(vulns) == 0 {
			continue
		}
		var ids, cves, fixed []string
		for _, v := range vulns {
			ids = append(ids, v.ID)
			cves = append(cves, v.CVEs...)
			if v.Fixed != "" {
				fixed = append(fixed, v.Fixed)
			}
		}
		sort.Strings(ids)
		sort.Strings(cves)
		f := finding.Finding{ID: IDVulnerability, Probe: Name, Status: finding.Fail, Severity: pol.VulnerabilitySeverity,
			Title:       "Installed package has known vulnerabilities",
			Message:     fmt.Sprintf("%s %s (%s) is affected by %s", k.name, k.version, limitNames(bs, pol.MaxNames), strings.Join(dedupe(ids), ", ")),
			Remediation: "Upgrade the package to a fixed version.",
			References:  patchRefs,
			Evidence: map[string]string{
				"source": k.name, "version": k.version, "packages": limitNames(bs, pol.MaxNames),
				"advisories": strings.Join(dedupe(ids), ","), "cves": strings.Join(dedupe(cves), ","),
				"fixed": strings.Join(dedupe(sortStrings(fixed)), ","), "ecosystem": eco,
			}}
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, finding.Finding{ID: IDVulnerability, Probe: Name, Status: finding.Pass, Severity: finding.Info,
			Title:      "No known vulnerabilities in installed packages",
			Message:    fmt.Sprintf("%d source packages checked against %d advisories of %s", len(bins), p.osvDB.Len(), eco),
			References: patchRefs, Evidence: map[string]string{"ecosystem": eco, "advisories": strconv.Itoa(p.osvDB.Len())}})
	}
	if errs > 0 {
		out = append(out, finding.ErrorFinding(Name, IDVulnerability, "Some versions could not be compared",
			fmt.Errorf("%d installed source versions could not be compared with the advisories of %s (invalid versions)", errs, pol.OSVBundle)))
	}
	return out
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

// ecosystem is the OSV ecosystem name of the host ("Debian:12", "Alpine:v3.19").
func ecosystem(d distro, manager string) (string, bool) {
	switch {
	case d.ID == "debian" && manager == "dpkg":
		return "Debian:" + d.VersionID, d.VersionID != ""
	case d.ID == "ubuntu" && manager == "dpkg":
		return "Ubuntu:" + d.VersionID, d.VersionID != ""
	case d.ID == "alpine" && manager == "apk":
		v := d.VersionID
		if parts := strings.Split(v, "."); len(parts) >= 2 {
			v = parts[0] + "." + parts[1]
		}
		return "Alpine:v" + v, v != ""
	}
	return "", false
}
