// Package binaries finds the Go executables that run the node (running host
// processes, the binaries systemd units start, CNI plugins), reads the
// build information the Go toolchain embeds in them (main module, dependency
// versions, Go version) and matches it against the Go records of the OSV
// bundle of the packages policy: runc, containerd, the kubelet and CNI
// plugins are often installed from release tarballs, which no package
// manager knows.
//
// A binary that dpkg, apk or rpm installed is left to the packages probe, which
// judges it by its distribution's advisories: distributions backport fixes
// without changing the upstream module version the binary records, so
// judging it by that version too would report it twice, once wrongly.
package binaries

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"path"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages"
	"github.com/nodeguard/nodeguard/probes/packages/osv"
	"github.com/nodeguard/nodeguard/probes/services"
)

// Name is the probe's id.
const Name = "binaries"

// IDVulnerability is the probe's one check.
const IDVulnerability = "binaries.vulnerability"

// ValueVulnerabilities is the key of Finding.Values (and of the evidence)
// that exporters count: on the failing findings of one binary (one per
// module), the distinct vulnerabilities of that binary (osv.Distinct over
// the advisories of all its modules: advisories sharing an id, alias or
// upstream id count once), each counted on the first of its findings that
// matched it, so that they add up to the binary's count; 0 on the passing
// finding. Absent when nothing was matched (no bundle, an unreadable one).
const ValueVulnerabilities = "vulnerabilities"

// maxNames bounds the lists in evidence.
const maxNames = 10

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe keeps the bundle's load between scans.
type Probe struct {
	osv osv.Cache
}

func (*Probe) Name() string { return Name }

// Binary is a Go executable found on the node.
type Binary struct {
	Path string   // host path
	Via  []string // how it was found: "pid 812", "unit containerd.service", "/opt/cni/bin"
	Info *debug.BuildInfo
}

// Found is what discovery saw.
type Found struct {
	Binaries []Binary
	// Owned are Go binaries a package manager installed: path → package.
	Owned map[string]string
	// Unreadable are executables that could not be read (too large,
	// permission), with the reason.
	Unreadable []string
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	bundle := policy.Section[packages.Policy](env.Policy, packages.Name).OSVBundle
	found := Discover(env.Root, pol)
	summary := fmt.Sprintf("%d Go binaries", len(found.Binaries))
	if len(found.Owned) > 0 {
		summary += fmt.Sprintf(" (and %d installed by packages, which the packages probe judges)", len(found.Owned))
	}
	evidence := func() finding.Evidence {
		ev := map[string]string{"binaries": strconv.Itoa(len(found.Binaries)), "package_owned": strconv.Itoa(len(found.Owned))}
		var names []string
		for _, b := range found.Binaries {
			names = append(names, b.Path)
		}
		ev["paths"] = limit(names)
		if len(found.Unreadable) > 0 {
			ev["unreadable"] = limit(found.Unreadable)
		}
		return finding.EvidenceOf(ev)
	}
	if bundle == "" {
		f := catalog.Get(IDVulnerability).Finding(finding.Skip, summary+" found; no OSV advisory bundle is configured (packages.osvBundle)")
		f.Severity, f.Evidence = finding.Info, evidence()
		return []finding.Finding{f}
	}
	want := osv.Want{}
	for _, b := range found.Binaries {
		for _, m := range modules(b.Info) {
			want.Add("Go", m.Path)
		}
	}
	db, err := p.osv.LoadBundle(bundle, want)
	if err != nil {
		return []finding.Finding{finding.ErrorFinding(Name, IDVulnerability, "OSV advisory bundle could not be read", err)}
	}
	var out []finding.Finding
	errs := 0
	for _, b := range found.Binaries {
		var fs []finding.Finding
		var matched [][]osv.Vuln
		for _, m := range modules(b.Info) {
			vulns, err := db.Match("Go", m.Path, m.Version)
			if err != nil {
				errs++
				continue
			}
			if len(vulns) > 0 {
				fs = append(fs, vulnFinding(pol, b, m, vulns))
				matched = append(matched, vulns)
			}
		}
		countVulnerabilities(fs, matched)
		out = append(out, fs...)
	}
	bad, _ := db.Bad()
	note := ""
	if bad > 0 {
		// The packages probe names them in its one error finding.
		note = fmt.Sprintf("; %d malformed files of the bundle were skipped (see packages.vulnerability)", bad)
	}
	if errs > 0 {
		note += fmt.Sprintf("; %d module versions could not be compared (invalid versions)", errs)
	}
	if len(out) == 0 {
		f := catalog.Get(IDVulnerability).Finding(finding.Pass,
			fmt.Sprintf("%s checked against %d advisories: none affected%s", summary, db.Len(), note))
		f.Severity, f.Title, f.Remediation = finding.Info, "No known vulnerabilities in Go binaries", ""
		f.Evidence = evidence()
		f.Evidence.Set("advisories", strconv.Itoa(db.Len()))
		f.Evidence.Set("malformed", strconv.Itoa(bad))
		f.SetInt(ValueVulnerabilities, 0)
		return []finding.Finding{f}
	}
	if note != "" {
		for i := range out {
			out[i].Message += note
		}
	}
	return out
}

// module is one module version a binary was built from; "stdlib" is the
// Go standard library at the toolchain's version.
type module struct{ Path, Version string }

// modules lists the main module, the dependencies (as replaced) and the
// standard library; unversioned ones ("(devel)": a local build) cannot be
// matched and are left out.
func modules(info *debug.BuildInfo) []module {
	var out []module
	add := func(m *debug.Module) {
		for m.Replace != nil {
			m = m.Replace
		}
		if m.Version != "" && m.Version != "(devel)" {
			out = append(out, module{m.Path, m.Version})
		}
	}
	add(&info.Main)
	for _, d := range info.Deps {
		add(d)
	}
	if info.GoVersion != "" {
		// "go1.22.1 X:boringcrypto" carries experiments after a space.
		v, _, _ := strings.Cut(info.GoVersion, " ")
		out = append(out, module{"stdlib", v})
	}
	return out
}

func vulnFinding(pol *Policy, b Binary, m module, vulns []osv.Vuln) finding.Finding {
	var ids, cves, fixed, parts []string
	for _, v := range vulns {
		ids = append(ids, v.ID)
		cves = append(cves, v.CVEs...)
		fx := "no fixed version"
		if v.Fixed != "" {
			fx = "fixed in " + v.Fixed
			fixed = append(fixed, v.Fixed)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", v.ID, fx))
	}
	what := "module " + m.Path
	if m.Path == "stdlib" {
		what = "the Go standard library"
	}
	msg := fmt.Sprintf("%s (%s): %s %s is affected by %s", b.Path, strings.Join(b.Via, ", "), what, m.Version, strings.Join(parts, ", "))
	f := catalog.Get(IDVulnerability).Finding(finding.Fail, msg)
	f.Severity = pol.VulnerabilitySeverity
	f.Title = "Go binary has known vulnerabilities"
	f.Evidence = finding.EvidenceOf(map[string]string{
		"binary": b.Path, "found_via": strings.Join(b.Via, ","), "module": m.Path, "version": m.Version,
		"advisories": strings.Join(ids, ","), "cves": strings.Join(dedupe(cves), ","), "fixed": strings.Join(dedupe(fixed), ","),
		"go_version": b.Info.GoVersion, "main_module": b.Info.Main.Path,
	})
	return f
}

// countVulnerabilities sets ValueVulnerabilities on the findings of one
// binary, matched[i] being the advisories of fs[i]: a vulnerability that
// several modules share (GO-2024-2687 in golang.org/x/net and the standard
// library) counts once, on the first finding that has it.
func countVulnerabilities(fs []finding.Finding, matched [][]osv.Vuln) {
	var all []osv.Vuln
	var of []int // finding of each advisory in all
	for i, vs := range matched {
		all = append(all, vs...)
		for range vs {
			of = append(of, i)
		}
	}
	group, n := osv.Distinct(all)
	counts := make([]int64, len(fs))
	counted := make([]bool, n)
	for j, g := range group {
		if !counted[g] {
			counted[g] = true
			counts[of[j]]++
		}
	}
	for i := range fs {
		fs[i].SetInt(ValueVulnerabilities, counts[i])
	}
}

// Discover finds the node's Go executables: running host processes, the
// ExecStart= binaries of systemd units, and every executable in the
// policy's directories.
func Discover(root *hostfs.Root, pol *Policy) Found {
	cands := map[string][]string{}
	add := func(p, via string) {
		if !strings.HasPrefix(p, "/") {
			return
		}
		p = path.Clean(p)
		cands[p] = append(cands[p], via)
	}
	processes(root, add)
	unitBinaries(root, add)
	for _, dir := range pol.Directories {
		ents, err := root.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				add(path.Join(dir, e.Name()), dir)
			}
		}
	}
	paths := make([]string, 0, len(cands))
	for p := range cands {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	owned := Owned(root, paths)
	found := Found{Owned: map[string]string{}}
	seen := map[[2]uint64]bool{}
	for _, p := range paths {
		info, id, err := read(root, p, pol.MaxBinaryMiB<<20)
		if err != nil {
			found.Unreadable = append(found.Unreadable, err.Error())
			continue
		}
		if info == nil || seen[id] {
			continue // not a Go binary, or a link to one already read
		}
		seen[id] = true
		if pkg, ok := owned[p]; ok {
			found.Owned[p] = pkg
			continue
		}
		found.Binaries = append(found.Binaries, Binary{Path: p, Via: dedupe(cands[p]), Info: info})
	}
	return found
}

// read returns the build information of a Go executable, nil for any other
// file. Only the ELF headers and the build-information blob are read.
func read(root *hostfs.Root, p string, max int64) (*debug.BuildInfo, [2]uint64, error) {
	var id [2]uint64
	f, err := root.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, id, nil // a unit of a binary not installed
		}
		return nil, id, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, id, nil
	}
	if st.Size() > max {
		return nil, id, fmt.Errorf("%s: larger than %d MiB", p, max>>20)
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "\x7fELF" {
		return nil, id, nil
	}
	if dev, ino, ok := fileID(st); ok {
		id = [2]uint64{dev, ino}
	}
	info, err := buildinfo.Read(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, id, nil // an ELF file without Go build information
	}
	return info, id, nil
}

// processes adds the executables of processes in the host's mount
// namespace: a container's /proc/PID/exe names a path inside the
// container, not on the host.
func processes(root *hostfs.Root, add func(p, via string)) {
	d, err := root.OpenDir("/proc")
	if err != nil {
		return
	}
	defer d.Close()
	names, err := d.Names()
	if err != nil {
		return
	}
	hostNS, _ := root.Readlink("/proc/1/ns/mnt")
	for _, n := range names {
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		if ns, err := root.Readlink("/proc/" + n + "/ns/mnt"); hostNS != "" && (err != nil || ns != hostNS) {
			continue
		}
		exe, err := root.Readlink("/proc/" + n + "/exe")
		if err != nil || strings.HasSuffix(exe, " (deleted)") {
			continue // kernel threads have none; a replaced binary is gone
		}
		add(exe, "pid "+n)
	}
}

// searchPath is where systemd looks for an ExecStart= command given
// without a directory.
var searchPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// unitBinaries adds the ExecStart= commands of the system's service units.
func unitBinaries(root *hostfs.Root, add func(p, via string)) {
	units := services.ScanUnits(root)
	names := make([]string, 0, len(units.ByName))
	for n, u := range units.ByName {
		if strings.HasSuffix(n, ".service") && u.File != "" && !u.Masked && u.AliasOf == "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		var exec []string
		for _, file := range append([]string{units.ByName[n].File}, units.DropIns[n]...) {
			data, err := root.ReadFile(file)
			if err != nil {
				continue
			}
			opts, err := unit.DeserializeOptions(strings.NewReader(string(data)))
			if err != nil {
				continue
			}
			for _, o := range opts {
				if o.Section == "Service" && o.Name == "ExecStart" {
					if strings.TrimSpace(o.Value) == "" {
						exec = nil // an empty assignment resets the list
					} else {
						exec = append(exec, o.Value)
					}
				}
			}
		}
		for _, e := range exec {
			if cmd := command(e); cmd != "" {
				add(resolve(root, cmd), "unit "+n)
			}
		}
	}
}

// command is the executable of an ExecStart= value, without systemd's
// prefixes (@-:+!|) and quotes.
func command(v string) string {
	fs := strings.Fields(v)
	if len(fs) == 0 {
		return ""
	}
	return strings.Trim(strings.TrimLeft(fs[0], "@-:+!|"), `"'`)
}

func resolve(root *hostfs.Root, cmd string) string {
	if strings.HasPrefix(cmd, "/") {
		return cmd
	}
	for _, dir := range searchPath {
		if p := path.Join(dir, cmd); root.Exists(p) {
			return p
		}
	}
	return ""
}

func limit(ns []string) string {
	if len(ns) > maxNames {
		ns = append(ns[:maxNames:maxNames], fmt.Sprintf("(+%d more)", len(ns)-maxNames))
	}
	return strings.Join(ns, ",")
}

func dedupe(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
