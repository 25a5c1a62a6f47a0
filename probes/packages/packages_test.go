package packages

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func run(t *testing.T, p *Probe, dir string, pol *policy.Policy) []finding.Finding {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	if pol == nil {
		pol = policy.Default()
	}
	return p.Run(context.Background(), &probes.Env{Root: root, Policy: pol, Role: probes.Worker, Log: zerolog.Nop()})
}

func byID(fs []finding.Finding, id string) []finding.Finding {
	var out []finding.Finding
	for _, f := range fs {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, fs []finding.Finding, id string) finding.Finding {
	t.Helper()
	got := byID(fs, id)
	if len(got) != 1 {
		t.Fatalf("%d findings %s, want 1: %+v", len(got), id, fs)
	}
	return got[0]
}

// newProbe returns a probe whose clock is an hour after the fixture's
// newest Release file, whatever the checkout time.
func newProbe(t *testing.T, dir string) *Probe {
	fi, err := os.Stat(filepath.Join(dir, "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_InRelease"))
	base := time.Now()
	if err == nil {
		base = fi.ModTime()
	}
	return &Probe{now: func() time.Time { return base.Add(time.Hour) }}
}

// copyTree copies a fixture so a test can change it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func TestDebianFixture(t *testing.T) {
	const dir = "testdata/debian"
	fs := run(t, newProbe(t, dir), dir, nil)
	for _, f := range fs {
		if f.Status == finding.Error {
			t.Errorf("error finding: %+v", f)
		}
	}
	up := one(t, fs, IDSecurityUpdates)
	if up.Status != finding.Fail || up.Severity != finding.High {
		t.Errorf("security updates: %s/%s", up.Status, up.Severity)
	}
	for k, want := range map[string]string{
		"upgradable": "8", "security": "3", "masked_security": "2",
		"security_packages": "libssl3,openssl,zlib1g", "masked_packages": "curl,libcurl4", "stale": "false",
		"packages": "base-files,curl,libcurl4,libssl3,openssl,tzdata,vim-tiny,zlib1g",
	} {
		if up.Evidence.Get(k) != want {
			t.Errorf("evidence %s = %q, want %q", k, up.Evidence.Get(k), want)
		}
	}
	inv := one(t, fs, IDInventory)
	if inv.Status != finding.Pass || inv.Evidence.Get("packages") != "12" || inv.Evidence.Get("package_manager") != "dpkg" ||
		inv.Evidence.Get("distribution") != "Debian GNU/Linux 12 (bookworm)" || inv.Evidence.Get("lists") != "4" {
		t.Errorf("inventory: %+v", inv)
	}
	// The fixture's lists are an hour old; the clock may tick between
	// setting that mtime and reading it.
	if age := inv.Evidence.Get("lists_age_seconds"); age != "3600" && age != "3599" && age != "3601" {
		t.Errorf("lists age = %q, want 3600 ± 1", age)
	}
	rb := one(t, fs, IDRebootRequired)
	if rb.Status != finding.Fail || rb.Evidence.Get("required") != "true" || rb.Evidence.Get("reason") != "kernel" ||
		rb.Evidence.Get("running_kernel") != "6.1.0-18-amd64" || rb.Evidence.Get("newest_kernel") != "6.1.0-20-amd64" {
		t.Errorf("reboot: %+v", rb)
	}
	if len(byID(fs, IDVulnerability)) != 0 {
		t.Error("vulnerability findings without a bundle")
	}
}

func TestStaleLists(t *testing.T) {
	const dir = "testdata/debian"
	p := newProbe(t, dir)
	base := p.now()
	p.now = func() time.Time { return base.Add(30 * 24 * time.Hour) }
	fs := run(t, p, dir, nil)
	inv := one(t, fs, IDInventory)
	if inv.Status != finding.Fail || inv.Evidence.Get("stale") != "true" || inv.Severity != finding.Medium {
		t.Errorf("inventory of stale lists: %+v", inv)
	}
	if up := one(t, fs, IDSecurityUpdates); up.Evidence.Get("stale") != "true" || !strings.Contains(up.Message, "older than") {
		t.Errorf("updates from stale lists not flagged: %+v", up)
	}
}

func TestRebootRequiredFlag(t *testing.T) {
	dir := copyTree(t, "testdata/debian")
	if err := os.WriteFile(filepath.Join(dir, "proc/sys/kernel/osrelease"), []byte("6.1.0-20-amd64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := run(t, newProbe(t, dir), dir, nil)
	if rb := one(t, fs, IDRebootRequired); rb.Status != finding.Pass || rb.Evidence.Get("required") != "false" {
		t.Errorf("newest kernel running: %+v", rb)
	}
	if err := os.WriteFile(filepath.Join(dir, "run/reboot-required"), []byte("*** System restart required ***\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs = run(t, newProbe(t, dir), dir, nil)
	rb := one(t, fs, IDRebootRequired)
	if rb.Status != finding.Fail || rb.Evidence.Get("reason") != "/run/reboot-required" || rb.Evidence.Get("packages") != "libssl3,linux-image-6.1.0-20-amd64" {
		t.Errorf("reboot-required flag: %+v", rb)
	}
	// A kernel that is not from a package: unknown, as on this VM.
	os.Remove(filepath.Join(dir, "run/reboot-required"))
	if err := os.WriteFile(filepath.Join(dir, "proc/sys/kernel/osrelease"), []byte("6.18.44-custom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs = run(t, newProbe(t, dir), dir, nil)
	if rb := one(t, fs, IDRebootRequired); rb.Status != finding.Skip || rb.Evidence.Get("required") != "unknown" {
		t.Errorf("custom kernel: %+v", rb)
	}
}

func TestOSVBundle(t *testing.T) {
	bundle, err := filepath.Abs("testdata/debian/var/lib/nodeguard/osv")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte("packages:\n  osvBundle: "+bundle+"\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	fs := run(t, newProbe(t, "testdata/debian"), "testdata/debian", pol)
	got := map[string]finding.Finding{}
	for _, f := range byID(fs, IDVulnerability) {
		if f.Status == finding.Fail {
			got[f.Evidence.Get("source")] = f
		}
	}
	if len(got) != 2 {
		t.Fatalf("vulnerable sources = %v, want openssl and zlib", got)
	}
	o := got["openssl"]
	if o.Status != finding.Fail || o.Evidence.Get("advisories") != "DSA-5532-1,DSA-9001-1" ||
		o.Evidence.Get("cves") != "CVE-2023-5363,CVE-2023-5678,CVE-2099-0001" || o.Evidence.Get("packages") != "libssl3,openssl" ||
		o.Evidence.Get("ecosystem") != "Debian:12" {
		t.Errorf("openssl: %+v", o)
	}
	if z := got["zlib"]; z.Evidence.Get("advisories") != "DLA-0001-1" || z.Evidence.Get("fixed") != "1:1.2.13.dfsg-1+deb12u1" {
		t.Errorf("zlib: %+v", z)
	}
	// The counts exporters read, typed: advisories of a source package,
	// one per vulnerability (DSA-5532-1 covers two CVEs and is one).
	for src, n := range map[string]float64{"openssl": 2, "zlib": 1} {
		if v, ok := got[src].Values[ValueVulnerabilities]; !ok || v != n || got[src].Evidence.Get(ValueVulnerabilities) != strconv.Itoa(int(n)) {
			t.Errorf("%s: vulnerabilities %v (%v), evidence %q; want %v", src, v, ok, got[src].Evidence.Get(ValueVulnerabilities), n)
		}
	}
	// The tree's bundle has one malformed file: one error finding names
	// it, and the matches above are still made.
	var bad []finding.Finding
	for _, f := range byID(fs, IDVulnerability) {
		if f.Status == finding.Error {
			bad = append(bad, f)
		}
	}
	if len(bad) != 1 || !strings.Contains(bad[0].Message, bundle+"/DSA-broken.json") || bad[0].Evidence.Get("malformed") != "1" {
		t.Errorf("malformed record findings: %+v", bad)
	}

	alpineBundle, err := filepath.Abs("testdata/debian-current/var/lib/nodeguard/osv")
	if err != nil {
		t.Fatal(err)
	}
	if pol, err = policy.Parse([]byte("packages:\n  osvBundle: "+alpineBundle+"\n"), "test"); err != nil {
		t.Fatal(err)
	}
	fs = run(t, &Probe{now: time.Now}, "testdata/alpine", pol)
	al := byID(fs, IDVulnerability)
	if len(al) != 2 {
		t.Fatalf("alpine vulnerability findings: %+v", al)
	}
	for _, f := range al {
		if f.Evidence.Get("advisories") != "ALPINE-CVE-2024-0003" || f.Evidence.Get("ecosystem") != "Alpine:v3.19" {
			t.Errorf("alpine: %+v", f)
		}
	}
}

func TestAlpine(t *testing.T) {
	fs := run(t, &Probe{now: time.Now}, "testdata/alpine", nil)
	inv := one(t, fs, IDInventory)
	if inv.Evidence.Get("package_manager") != "apk" || inv.Evidence.Get("packages") != "3" || inv.Evidence.Get("distribution") != "Alpine Linux v3.19" {
		t.Errorf("inventory: %+v", inv)
	}
	if inv.Evidence.Get("updates_source") != "apkindex-cache" || inv.Evidence.Get("repos") != "3" || inv.Evidence.Get("stale") != "false" {
		t.Errorf("inventory: %+v", inv)
	}
	// Upgradable counts are real; apk has no security metadata, and says so.
	up := one(t, fs, IDSecurityUpdates)
	for k, want := range map[string]string{
		"upgradable": "2", "security": "unknown", "masked_security": "unknown", "packages": "busybox,musl",
		"updates_source": "apkindex-cache",
	} {
		if up.Evidence.Get(k) != want {
			t.Errorf("evidence %s = %q, want %q", k, up.Evidence.Get(k), want)
		}
	}
	if up.Status != finding.Fail || !strings.Contains(up.Evidence.Get("security_source"), "no security information") ||
		!strings.Contains(up.Message, "security unknown") {
		t.Errorf("alpine updates: %+v", up)
	}
	if rb := one(t, fs, IDRebootRequired); rb.Status != finding.Pass || rb.Evidence.Get("newest_kernel") != "6.6.14-0-virt" {
		t.Errorf("alpine reboot: %+v", rb)
	}
	// Without the index cache (as in most images) the counts are unknown, not zero.
	dir := copyTree(t, "testdata/alpine")
	os.RemoveAll(filepath.Join(dir, "var/cache/apk"))
	up = one(t, run(t, &Probe{now: time.Now}, dir, nil), IDSecurityUpdates)
	if up.Status != finding.Skip || up.Evidence.Get("upgradable") != "unknown" || up.Evidence.Get("security") != "unknown" ||
		up.Evidence.Get("repos_without_cache") == "" {
		t.Errorf("apk updates without a cache must be unknown, not zero: %+v", up)
	}
}

func TestNoPackageDatabase(t *testing.T) {
	fs := run(t, &Probe{now: time.Now}, t.TempDir(), nil)
	if f := one(t, fs, IDInventory); f.Status != finding.Skip {
		t.Errorf("empty host: %+v", f)
	}
}

// TestOrphanListIgnored: the list of a source removed without apt-get update
// since is what apt ignores, so it is no finding at all.
func TestOrphanListIgnored(t *testing.T) {
	dir := copyTree(t, "testdata/debian")
	orphan := "var/lib/apt/lists/old.example.org_debian_dists_buster_main_binary-amd64_Packages"
	if err := os.WriteFile(filepath.Join(dir, orphan), []byte("Package: x\nVersion: 1\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := run(t, newProbe(t, dir), dir, nil)
	if in := byID(fs, IDInput); len(in) != 0 {
		t.Errorf("a list apt ignores gave input findings: %+v", in)
	}
	if len(byID(fs, IDSecurityUpdates)) != 1 || len(byID(fs, IDInventory)) != 1 {
		t.Errorf("the host was not judged: %+v", fs)
	}
}

// TestBadInput: each broken input is an error finding naming the file; the
// rest of the host is still judged.
func TestBadInput(t *testing.T) {
	lists := "var/lib/apt/lists/"
	sec := lists + "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4"
	for _, c := range []struct {
		name   string
		change func(t *testing.T, dir string)
		file   string
		msg    string
	}{
		{"truncated lz4 list", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, sec))
			os.WriteFile(filepath.Join(dir, sec), data[:len(data)/2], 0o644)
		}, "/" + sec, ""},
		{"unknown compression", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, sec), filepath.Join(dir, strings.TrimSuffix(sec, ".lz4")+".lzo"))
		}, "/" + strings.TrimSuffix(sec, ".lz4") + ".lzo", "unknown compression"},
		{"bogus version in a list", func(t *testing.T, dir string) {
			var b bytes.Buffer
			w := lz4.NewWriter(&b)
			w.Write([]byte("Package: openssl\nVersion: not-a-version!\nArchitecture: amd64\n\n"))
			w.Close()
			os.WriteFile(filepath.Join(dir, sec), b.Bytes(), 0o644)
		}, "/" + sec, "not-a-version!"},
		{"binary garbage list", func(t *testing.T, dir string) {
			var b bytes.Buffer
			w := lz4.NewWriter(&b)
			w.Write([]byte("\x00\x01\x02\x03garbage\xff\xfe\n\n"))
			w.Close()
			os.WriteFile(filepath.Join(dir, sec), b.Bytes(), 0o644)
		}, "/" + sec, "malformed"},
		{"corrupt preferences", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "etc/apt/preferences.d/broken"), []byte("Pin: release a=stable\nPin-Priority: 900\n"), 0o644)
		}, "/etc/apt/preferences.d/broken", "without a Package field"},
		{"corrupt sources", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "etc/apt/sources.list.d/bad.list"), []byte("deb [arch=amd64 http://x\n"), 0o644)
		}, "/etc/apt/sources.list.d/bad.list", "unterminated"},
		{"symlink loop", func(t *testing.T, dir string) {
			os.Symlink("loop", filepath.Join(dir, "etc/apt/preferences.d/loop"))
		}, "/etc/apt/preferences.d/loop", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, "testdata/debian")
			c.change(t, dir)
			fs := run(t, newProbe(t, dir), dir, nil)
			found := false
			for _, f := range byID(fs, IDInput) {
				if f.Evidence.Get("file") == c.file && strings.Contains(f.Message, c.file) && strings.Contains(f.Message, c.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error finding for %s containing %q: %+v", c.file, c.msg, byID(fs, IDInput))
			}
			if len(byID(fs, IDSecurityUpdates)) != 1 || len(byID(fs, IDInventory)) != 1 {
				t.Errorf("the rest of the host was not judged: %+v", fs)
			}
		})
	}
}

func TestCorruptStatus(t *testing.T) {
	dir := copyTree(t, "testdata/debian")
	if err := os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), []byte("Package: x\nStatus: install ok\n\x00\x00binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := run(t, newProbe(t, dir), dir, nil)
	f := one(t, fs, IDInventory)
	if f.Status != finding.Error || !strings.Contains(f.Message, "/var/lib/dpkg/status") {
		t.Errorf("corrupt status: %+v", f)
	}
}

// TestRescanCache: unchanged inputs reuse the result; touching one input
// recomputes it.
func TestRescanCache(t *testing.T) {
	dir := copyTree(t, "testdata/debian")
	p := newProbe(t, dir)
	run(t, p, dir, nil)
	first := p.cached
	run(t, p, dir, nil)
	if p.cached != first {
		t.Fatal("unchanged inputs were scanned again")
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "etc/apt/preferences.d/hold-curl"), future, future); err != nil {
		t.Fatal(err)
	}
	run(t, p, dir, nil)
	if p.cached == first {
		t.Fatal("a changed preferences file did not invalidate the cache")
	}
	second := p.cached
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/sources.list.d/new.list"), []byte("deb http://x.example/ y main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, p, dir, nil)
	if p.cached == second {
		t.Fatal("a new sources file did not invalidate the cache")
	}
}

func TestRPMHost(t *testing.T) {
	fs := run(t, &Probe{now: time.Now}, "testdata/rhel", nil)
	inv := one(t, fs, IDInventory)
	if inv.Status != finding.Pass || inv.Evidence.Get("package_manager") != "rpm" || inv.Evidence.Get("packages") != "3" ||
		inv.Evidence.Get("database") != "/var/lib/rpm/rpmdb.sqlite" {
		t.Errorf("inventory: %+v", inv)
	}
	if up := one(t, fs, IDSecurityUpdates); up.Status != finding.Skip || up.Evidence.Get("upgradable") != "unknown" {
		t.Errorf("rpm updates must be unknown, not zero: %+v", up)
	}
	if rb := one(t, fs, IDRebootRequired); rb.Status != finding.Pass || rb.Evidence.Get("newest_kernel") != "5.14.0-362.8.1.el9_3.noarch" {
		t.Errorf("rpm reboot: %+v", rb)
	}
}

// TestDNFHost: the RHEL fixture whose dnf cache dnf itself wrote; the
// counts are those `dnf check-update` gives on it (see dnf.TestAgainstDNF).
func TestDNFHost(t *testing.T) {
	const dir = "testdata/rhel-dnf"
	p := &Probe{now: time.Now}
	fs := run(t, p, dir, nil)
	for _, f := range fs {
		if f.Status == finding.Error {
			t.Errorf("error finding: %+v", f)
		}
	}
	up := one(t, fs, IDSecurityUpdates)
	for k, want := range map[string]string{
		"upgradable": "6", "security": "3", "masked_security": "1",
		"security_packages": "kernel-core,openssl-libs", "masked_packages": "curl",
		"packages":       "bash,kernel-core,openssl-libs,python3-pip-wheel,tzdata",
		"updates_source": "dnf-cache", "repos": "ng-appstream,ng-baseos",
		"advisories": "RHSA-2024:0101,RHSA-2024:0103,RHSA-2024:0104",
	} {
		if up.Evidence.Get(k) != want {
			t.Errorf("evidence %s = %q, want %q", k, up.Evidence.Get(k), want)
		}
	}
	if up.Status != finding.Fail || up.Severity != finding.High || !strings.Contains(up.Message, "an exclude keeps") ||
		!strings.Contains(up.Remediation, "dnf upgrade") {
		t.Errorf("updates: %+v", up)
	}
	inv := one(t, fs, IDInventory)
	if inv.Evidence.Get("packages") != "11" || inv.Evidence.Get("updates_source") != "dnf-cache" || inv.Evidence.Get("lists_age_seconds") == "" {
		t.Errorf("inventory: %+v", inv)
	}
	if rb := one(t, fs, IDRebootRequired); rb.Status != finding.Pass || rb.Evidence.Get("newest_kernel") != "5.14.0-362.13.1.el9_3.x86_64" {
		t.Errorf("reboot: %+v", rb)
	}
	// A rescan with unchanged files reuses the evaluation.
	first := p.rpmCached
	run(t, p, dir, nil)
	if p.rpmCached != first {
		t.Error("unchanged rpm inputs were read again")
	}

	// A new repo file invalidates it; its repo has no cache and is named.
	cp := copyTree(t, dir)
	p = &Probe{now: time.Now}
	run(t, p, cp, nil)
	first = p.rpmCached
	if err := os.WriteFile(filepath.Join(cp, "etc/yum.repos.d/extra.repo"), []byte("[ng-extras]\nbaseurl=http://x/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up = one(t, run(t, p, cp, nil), IDSecurityUpdates)
	if p.rpmCached == first || up.Evidence.Get("repos_without_cache") != "ng-extras" || !strings.Contains(up.Message, "ng-extras") {
		t.Errorf("new repo file: cache reused %v, %+v", p.rpmCached == first, up)
	}
	// A broken primary is an error finding naming the file; that repo is not counted.
	m, _ := filepath.Glob(filepath.Join(cp, "var/cache/dnf/ng-appstream-*/repodata/*-primary.xml.gz"))
	if len(m) != 1 {
		t.Fatalf("primary: %v", m)
	}
	os.WriteFile(m[0], []byte("garbage"), 0o644)
	fs = run(t, p, cp, nil)
	in := one(t, fs, IDInput)
	if !strings.Contains(in.Message, strings.TrimPrefix(m[0], cp)) || in.Evidence.Get("file") != strings.TrimPrefix(m[0], cp) {
		t.Errorf("input finding: %+v", in)
	}
	if up := one(t, fs, IDSecurityUpdates); up.Evidence.Get("upgradable") != "4" || !strings.Contains(up.Evidence.Get("repos_without_cache"), "ng-appstream") {
		t.Errorf("updates with a broken repo: %+v", up)
	}
}
