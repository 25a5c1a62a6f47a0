// Package packages judges the host's patch level offline, from what its
// package manager already knows: installed packages from dpkg, rpm or apk;
// for Debian and Ubuntu the upgradable set exactly as apt computes it from
// the lists `apt-get update` left behind; whether a reboot is pending; and,
// with an OSV advisory bundle, which installed versions have known
// vulnerabilities.
package packages

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages/apk"
	"github.com/nodeguard/nodeguard/probes/packages/deb"
	"github.com/nodeguard/nodeguard/probes/packages/dnf"
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

// Keys of Finding.Values, the numbers exporters read; each is also an
// evidence key holding the same number as text. A key is absent when the
// number is unknown.
const (
	ValueUpgradable      = "upgradable"        // IDSecurityUpdates: upgradable packages
	ValueSecurity        = "security"          // IDSecurityUpdates: those with a security update
	ValueListsAgeSeconds = "lists_age_seconds" // IDInventory, IDSecurityUpdates: age of the package lists
	ValueRebootRequired  = "required"          // IDRebootRequired: 1 or 0
	// IDVulnerability: on a failing finding, the distinct vulnerabilities
	// among the advisories matched for its source package (osv.Distinct:
	// advisories sharing an id, alias or upstream id count once); 0 on the
	// passing one. Absent when nothing was matched (no bundle, no ecosystem,
	// an unreadable bundle).
	ValueVulnerabilities = "vulnerabilities"
)

// newFinding starts a finding with its check's references from the
// catalogue; the caller sets status, severity and title.
func newFinding(id string) finding.Finding {
	return finding.Finding{ID: id, Probe: Name, References: catalog.Get(id).Refs(), Evidence: finding.Evidence{}}
}

func init() { probes.Register(Name, func() probes.Probe { return &Probe{now: time.Now} }) }

// Probe caches the last dpkg/apt evaluation: when none of its input files
// changed (same device, inode, size and mtime) a rescan reuses it.
type Probe struct {
	now    func() time.Time
	cached *deb.Result
	// rpmCached and apkCached are the last rpm/dnf and apk evaluations,
	// reused while none of their inputs changed.
	rpmCached *inventory
	apkCached *inventory
	osv       osv.Cache
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
	// updatesKnown is false when no package manager metadata tells the
	// candidates: the counts are unknown, not zero.
	updatesKnown bool
	// securityKnown is false where the metadata has no notion of security
	// (apk): upgradable counts are real, security counts unknown.
	securityKnown bool
	// updatesSource is where candidates come from (apt-lists, dnf-cache...).
	updatesSource string
	unknownReason string
	// evidence is manager-specific evidence for the updates finding.
	evidence     map[string]string
	updates      []deb.Upgrade
	masked       []deb.Masked
	lists        int
	listsUpdated time.Time
	problems     []deb.Problem
	inputs       []deb.FileID
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
			Evidence: finding.EvidenceOf(map[string]string{"distribution": d.String()})}
		return append(out, f)
	}
	for _, pr := range inv.problems {
		if pr.Orphan {
			// A source removed without apt-get update since leaves its
			// lists behind; apt ignores them, and so does the judgement.
			env.Log.Debug().Str("file", pr.File).Msg("ignoring the package list of a source that is no longer configured, as apt does")
			continue
		}
		out = append(out, problemFinding(pr))
	}
	now := p.now()
	out = append(out, inventoryFinding(pol, d, inv, now))
	out = append(out, updatesFinding(pol, inv, now))
	out = append(out, rebootFinding(pol, env.Root, inv))
	out = append(out, p.vulnerabilityFindings(env, pol, d, inv)...)
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
		inv := &inventory{manager: "dpkg", db: cfg.Status, updatesKnown: true, securityKnown: true,
			updatesSource: "apt-lists", updates: res.Upgrades, masked: res.Masked, lists: res.Lists,
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
		if p.apkCached != nil && unchanged(root, p.apkCached.inputs) {
			return p.apkCached, nil
		}
		inv, err := apkInventory(root)
		p.apkCached = inv
		return inv, err
	}
	for _, db := range rpm.Paths {
		if !root.Exists(db) {
			continue
		}
		if p.rpmCached != nil && p.rpmCached.db == db && unchanged(root, p.rpmCached.inputs) {
			return p.rpmCached, nil
		}
		inv, err := rpmInventory(root, db)
		p.rpmCached = inv
		return inv, err
	}
	return nil, nil
}

// rpmInventory reads the rpmdb and, from the dnf/yum metadata caches, the
// pending updates.
func rpmInventory(root *hostfs.Root, db string) (*inventory, error) {
	ids := fileIDs(root, []string{db})
	pkgs, err := rpm.Read(root, db)
	if err != nil {
		return nil, err
	}
	inv := &inventory{manager: "rpm", db: db, evidence: map[string]string{}}
	for _, r := range pkgs {
		inv.packages = append(inv.packages, pkg{r.Name, r.EVR(), r.Arch, r.SourceName(), r.EVR()})
	}
	res := dnf.Scan(root, pkgs)
	inv.inputs = append(ids, fileIDs(root, res.Inputs)...)
	for _, pr := range res.Problems {
		inv.problems = append(inv.problems, deb.Problem{File: pr.File, Err: errors.New(strings.TrimPrefix(pr.Error(), pr.File+": "))})
	}
	if len(res.Uncached) > 0 {
		inv.evidence["repos_without_cache"] = strings.Join(res.Uncached, ",")
	}
	if !res.Known() {
		inv.unknownReason = "no enabled dnf/yum repository has metadata in the local cache (dnf makecache never ran, or the cache was cleaned)"
		return inv, nil
	}
	inv.updatesKnown, inv.securityKnown = true, true
	inv.updatesSource = strings.Join(res.Sources, "+")
	inv.evidence["repos"] = strings.Join(res.Repos, ",")
	inv.lists, inv.listsUpdated = len(res.Repos), res.Updated
	for _, u := range res.Updates {
		inv.updates = append(inv.updates, deb.Upgrade{Name: u.Name, Arch: u.Arch, Installed: u.Installed,
			Candidate: u.Candidate, Security: u.Security, Archives: []string{u.Repo}})
	}
	var advisories []string
	for _, u := range res.Updates {
		advisories = append(advisories, u.Advisories...)
	}
	for _, m := range res.Masked {
		inv.masked = append(inv.masked, deb.Masked{Name: m.Name, Arch: m.Arch, Candidate: m.Installed, SecurityVersion: m.SecurityVersion})
		advisories = append(advisories, m.Advisory)
	}
	if len(advisories) > 0 {
		inv.evidence["advisories"] = strings.Join(dedupe(sortStrings(advisories)), ",")
	}
	return inv, nil
}

// apkInventory reads apk's installed database and, from the index cache
// apk update leaves, the pending updates. apk's indexes carry no security
// information: security counts are unknown, upgradable counts real.
func apkInventory(root *hostfs.Root) (*inventory, error) {
	ids := fileIDs(root, []string{apk.Path})
	f, err := root.Open(apk.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs, err := apk.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", apk.Path, err)
	}
	inv := &inventory{manager: "apk", db: apk.Path, evidence: map[string]string{}}
	for _, a := range pkgs {
		inv.packages = append(inv.packages, pkg{a.Name, a.Version, a.Arch, a.Origin, a.Version})
	}
	res := apk.ScanUpdates(root, pkgs)
	inv.inputs = append(ids, fileIDs(root, res.Inputs)...)
	for _, pr := range res.Problems {
		inv.problems = append(inv.problems, deb.Problem{File: pr.File, Err: pr.Err})
	}
	if len(res.Uncached) > 0 {
		inv.evidence["repos_without_cache"] = strings.Join(res.Uncached, ",")
	}
	if !res.Known() {
		inv.unknownReason = "no configured apk repository has an index in the local cache (apk update never ran, or the cache was cleaned as in most container images)"
		return inv, nil
	}
	inv.updatesKnown, inv.updatesSource = true, "apkindex-cache"
	inv.evidence["security_source"] = "none: apk indexes carry no security information"
	inv.lists, inv.listsUpdated = len(res.Repos), res.Updated
	for _, u := range res.Updates {
		inv.updates = append(inv.updates, deb.Upgrade{Name: u.Name, Arch: u.Arch, Installed: u.Installed, Candidate: u.Candidate, Archives: []string{u.Repo}})
	}
	return inv, nil
}

// fileIDs notes the identity of each input; a missing one is noted as
// missing, so that its appearance counts as a change.
func fileIDs(root *hostfs.Root, paths []string) []deb.FileID {
	out := make([]deb.FileID, 0, len(paths))
	for _, p := range paths {
		fi, err := root.Stat(p)
		if err != nil {
			out = append(out, deb.FileID{Path: p, Dev: -1, Ino: -1})
			continue
		}
		out = append(out, fileID(p, fi))
	}
	return out
}

// unchanged reports whether every input still has the identity it had.
func unchanged(root *hostfs.Root, inputs []deb.FileID) bool {
	for _, in := range inputs {
		fi, err := root.Stat(in.Path)
		if err != nil {
			if in.Dev == -1 && in.Ino == -1 {
				continue // still missing
			}
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
	f := finding.ErrorFinding(Name, IDInput, "Package data could not be read", pr)
	f.Remediation = catalog.Get(IDInput).Remediation
	f.Evidence = finding.EvidenceOf(map[string]string{"file": pr.File})
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
	f := newFinding(IDInventory)
	f.Status, f.Severity, f.Title = finding.Pass, finding.Info, "Package inventory"
	f.Evidence = finding.EvidenceOf(map[string]string{
		"distribution": d.String(), "package_manager": inv.manager, "database": inv.db,
		"packages": strconv.Itoa(len(inv.packages)),
	})
	f.Message = fmt.Sprintf("%s: %d packages installed (%s)", d, len(inv.packages), inv.manager)
	switch inv.manager {
	case "dpkg":
		f.Evidence.Set("lists", strconv.Itoa(inv.lists))
	case "rpm", "apk":
		if inv.updatesKnown {
			f.Evidence.Set("repos", strconv.Itoa(inv.lists))
		}
	}
	if inv.updatesSource != "" {
		f.Evidence.Set("updates_source", inv.updatesSource)
	}
	if age, ok := listsAge(inv, now); ok {
		f.SetInt(ValueListsAgeSeconds, int64(age.Seconds()))
		f.Evidence.Set("lists_updated", inv.listsUpdated.UTC().Format(time.RFC3339))
		f.Message += fmt.Sprintf("; package lists updated %s ago", age.Round(time.Minute))
		if age > pol.staleAfter {
			f.Status, f.Severity = finding.Fail, pol.StaleListsSeverity
			f.Title = "Package lists are stale"
			f.Message += fmt.Sprintf(", more than %s: pending-update counts may be too low", pol.staleAfter)
			f.Remediation = refreshRemediation[inv.manager]
			f.Evidence.Set("stale", "true")
		} else {
			f.Evidence.Set("stale", "false")
		}
	} else if inv.manager == "dpkg" {
		f.Message += "; no package lists of a configured source (apt-get update never ran?)"
	}
	return f
}

// refreshRemediation says how each package manager refreshes its metadata.
var refreshRemediation = map[string]string{
	"dpkg": "Run apt-get update regularly (apt-daily.timer or unattended-upgrades).",
	"rpm":  "Refresh the repository metadata regularly (dnf makecache, dnf-makecache.timer, or yum makecache).",
	"apk":  "Refresh the package indexes regularly (apk update).",
}

// upgradeRemediation says how each package manager installs the updates.
var upgradeRemediation = map[string]string{
	"dpkg": "Install the updates (apt-get upgrade, or let unattended-upgrades do it) and drain and reboot the node if the kernel or libc changed; review pins that hold back security versions.",
	"rpm":  "Install the updates (dnf upgrade --security, or dnf-automatic) and drain and reboot the node if the kernel or glibc changed; review excludes that hold back security versions.",
	"apk":  "Install the updates (apk upgrade) and drain and reboot the node if the kernel or musl changed.",
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
	f := newFinding(IDSecurityUpdates)
	for k, v := range inv.evidence {
		f.Evidence.Set(k, v)
	}
	if inv.updatesSource != "" {
		f.Evidence.Set("updates_source", inv.updatesSource)
	}
	if !inv.updatesKnown {
		f.Status, f.Severity = finding.Skip, finding.Info
		f.Title = "Pending updates unknown"
		switch {
		case inv.unknownReason != "":
			f.Message = inv.unknownReason + "; pending updates are unknown, not zero"
		case inv.manager == "dpkg":
			f.Message = "apt has no package lists for the configured sources, so pending updates cannot be told"
		default:
			f.Message = fmt.Sprintf("pending updates of %s hosts cannot be told offline; the count is unknown, not zero", inv.manager)
		}
		f.Remediation = refreshRemediation[inv.manager]
		f.Evidence.Set(ValueUpgradable, "unknown")
		f.Evidence.Set(ValueSecurity, "unknown")
		f.Evidence.Set("masked_security", "unknown")
		return f
	}
	sec := 0
	for _, u := range inv.updates {
		if u.Security {
			sec++
		}
	}
	f.SetInt(ValueUpgradable, int64(len(inv.updates)))
	f.Evidence.Set("packages", names(inv.updates, pol.MaxNames, false))
	if inv.securityKnown {
		f.SetInt(ValueSecurity, int64(sec))
		f.Evidence.Set("masked_security", strconv.Itoa(len(inv.masked)))
		f.Evidence.Set("security_packages", names(inv.updates, pol.MaxNames, true))
		var masked []string
		for _, m := range inv.masked {
			masked = append(masked, m.Name)
		}
		f.Evidence.Set("masked_packages", limitNames(masked, pol.MaxNames))
	} else {
		f.Evidence.Set(ValueSecurity, "unknown")
		f.Evidence.Set("masked_security", "unknown")
	}
	stale := false
	if age, ok := listsAge(inv, now); ok {
		f.SetInt(ValueListsAgeSeconds, int64(age.Seconds()))
		stale = age > pol.staleAfter
	}
	f.Evidence.Set("stale", strconv.FormatBool(stale))
	staleNote := ""
	if stale {
		staleNote = fmt.Sprintf(" (from package metadata older than %s: there may be more)", pol.staleAfter)
	}
	if missing := inv.evidence["repos_without_cache"]; missing != "" {
		staleNote += fmt.Sprintf("; enabled repos without a metadata cache are not counted (%s)", missing)
	}
	hold := "pinning"
	if inv.manager == "rpm" {
		hold = "an exclude"
	}
	switch {
	case !inv.securityKnown && len(inv.updates) > 0:
		// The policy's severity is for security updates, not for these.
		f.Status, f.Severity = finding.Fail, catalog.Get(IDSecurityUpdates).Severity
		f.Title = "Updates pending, security unknown"
		f.Message = fmt.Sprintf("%d upgradable packages (%s); %s metadata does not say which updates fix security issues (security unknown; the osvBundle policy matches advisories)",
			len(inv.updates), f.Evidence.Get("packages"), inv.manager)
		f.Remediation = upgradeRemediation[inv.manager]
	case !inv.securityKnown:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "No updates pending"
		f.Message = fmt.Sprintf("no upgradable packages; %s metadata has no security information (security unknown)", inv.manager)
	case sec > 0 || len(inv.masked) > 0:
		f.Status, f.Severity = finding.Fail, pol.SecurityUpdatesSeverity
		f.Title = catalog.Get(IDSecurityUpdates).Title
		f.Message = fmt.Sprintf("%d of %d upgradable packages have security updates (%s)", sec, len(inv.updates), f.Evidence.Get("security_packages"))
		if len(inv.masked) > 0 {
			f.Message += fmt.Sprintf("; %d more have a newer security version that %s keeps from being installed (%s)",
				len(inv.masked), hold, f.Evidence.Get("masked_packages"))
		}
		f.Remediation = upgradeRemediation[inv.manager]
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
func (p *Probe) vulnerabilityFindings(env *probes.Env, pol *Policy, d distro, inv *inventory) []finding.Finding {
	if pol.OSVBundle == "" {
		return nil
	}
	eco, ok := ecosystem(d, inv.manager)
	if !ok {
		f := finding.Finding{ID: IDVulnerability, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title: "No OSV ecosystem for this distribution", Message: fmt.Sprintf("%s (%s) has no OSV ecosystem the bundle can match", d, inv.manager),
			Evidence: finding.EvidenceOf(map[string]string{"distribution": d.String()})}
		return []finding.Finding{f}
	}
	want := osv.Want{}
	for _, pk := range inv.packages {
		want.Add(eco, pk.Source)
	}
	db, err := p.osv.LoadBundle(pol.OSVBundle, want)
	if err != nil {
		return []finding.Finding{finding.ErrorFinding(Name, IDVulnerability, "OSV advisory bundle could not be read", err)}
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
		vulns, err := db.Match(eco, k.name, k.version)
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
		f := newFinding(IDVulnerability)
		f.Status, f.Severity, f.Title = finding.Fail, pol.VulnerabilitySeverity, "Installed package has known vulnerabilities"
		f.Message = fmt.Sprintf("%s %s (%s) is affected by %s", k.name, k.version, limitNames(bs, pol.MaxNames), strings.Join(dedupe(ids), ", "))
		f.Remediation = catalog.Get(IDVulnerability).Remediation
		f.Evidence = finding.EvidenceOf(map[string]string{
			"source": k.name, "version": k.version, "packages": limitNames(bs, pol.MaxNames),
			"advisories": strings.Join(dedupe(ids), ","), "cves": strings.Join(dedupe(cves), ","),
			"fixed": strings.Join(dedupe(sortStrings(fixed)), ","), "ecosystem": eco,
		})
		_, n := osv.Distinct(vulns)
		f.SetInt(ValueVulnerabilities, int64(n))
		out = append(out, f)
	}
	if len(out) == 0 {
		f := newFinding(IDVulnerability)
		f.Status, f.Severity, f.Title = finding.Pass, finding.Info, "No known vulnerabilities in installed packages"
		f.Message = fmt.Sprintf("%d source packages checked against %d advisories of %s", len(bins), db.Len(), eco)
		f.Evidence = finding.EvidenceOf(map[string]string{"ecosystem": eco, "advisories": strconv.Itoa(db.Len())})
		f.SetInt(ValueVulnerabilities, 0)
		out = append(out, f)
	}
	if f, ok := MalformedFinding(Name, IDVulnerability, pol.OSVBundle, db); ok {
		out = append(out, f)
	}
	if errs > 0 {
		out = append(out, finding.ErrorFinding(Name, IDVulnerability, "Some versions could not be compared",
			fmt.Errorf("%d installed source versions could not be compared with the advisories of %s (invalid versions)", errs, pol.OSVBundle)))
	}
	return out
}

// MalformedFinding is the one error finding for the records of a bundle
// that could not be read: the first few named, the rest counted. Every
// other record was still judged.
func MalformedFinding(probe, id, bundle string, db *osv.DB) (finding.Finding, bool) {
	n, names := db.Bad()
	if n == 0 {
		return finding.Finding{}, false
	}
	msg := fmt.Sprintf("%d malformed files of the OSV bundle %s were skipped (%s", n, bundle, strings.Join(names, "; "))
	if n > len(names) {
		msg += fmt.Sprintf("; and %d more", n-len(names))
	}
	msg += fmt.Sprintf("); the other %d advisories were judged", db.Len())
	f := finding.ErrorFinding(probe, id, "OSV advisory bundle has malformed records", errors.New(msg))
	f.Remediation = "Replace the malformed files with a fresh export of the vulnerability database."
	f.Evidence = finding.EvidenceOf(map[string]string{"bundle": bundle, "malformed": strconv.Itoa(n), "advisories": strconv.Itoa(db.Len())})
	return f, true
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
