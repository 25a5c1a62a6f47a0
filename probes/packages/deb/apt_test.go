package deb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// aptUpgradable runs the real `apt list --upgradable` over a host tree (or
// "/") and returns "name:arch installed candidate" lines, arch "all"
// normalised to native.
func aptUpgradable(t testing.TB, root, native, defaultRelease string) []string {
	t.Helper()
	if _, err := exec.LookPath("apt"); err != nil {
		t.Skip("apt is not installed: the differential test needs the real apt")
	}
	cache := t.TempDir()
	args := []string{"list", "--upgradable", "-o", "Dir::Cache=" + cache, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
		"-o", "Debug::NoLocking=1", "-o", "APT::Get::List-Cleanup=0"}
	if root != "/" {
		cfg := DefaultConfig()
		j := func(p string) string { return filepath.Join(root, p) }
		args = append(args,
			"-o", "Dir::State::status="+j(cfg.Status),
			"-o", "Dir::State::Lists="+j(cfg.Lists),
			"-o", "Dir::Etc::SourceList="+j(cfg.SourceList),
			"-o", "Dir::Etc::SourceParts="+j(cfg.SourceParts),
			"-o", "Dir::Etc::Preferences="+j(cfg.Preferences),
			"-o", "Dir::Etc::PreferencesParts="+j(cfg.PreferencesParts),
			"-o", "Dir::Etc::main="+j(cfg.AptConf),
			"-o", "Dir::Etc::Parts="+j(cfg.AptConfParts),
			"-o", "Dir::State::extended_states="+filepath.Join(cache, "extended_states"),
			"-o", "APT::Architecture="+native,
			"-o", "APT::Architectures::="+native,
		)
	}
	if defaultRelease != "" {
		args = append(args, "-o", "APT::Default-Release="+defaultRelease)
	}
	cmd := exec.Command("apt", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("apt %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	var res []string
	for _, line := range strings.Split(string(out), "\n") {
		// name/suite[,suite] candidate arch [upgradable from: installed]
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(line, "[upgradable from:") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "/")
		arch := f[2]
		if arch == "all" {
			arch = native
		}
		res = append(res, fmt.Sprintf("%s:%s %s %s", name, arch, strings.TrimSuffix(f[5], "]"), f[1]))
	}
	sort.Strings(res)
	return res
}

func ourUpgradable(t testing.TB, root string, cfg Config) ([]string, *Result) {
	t.Helper()
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := Scan(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range res.Upgrades {
		arch := u.Arch
		if arch == "all" {
			arch = res.Native
		}
		out = append(out, fmt.Sprintf("%s:%s %s %s", u.Name, arch, u.Installed, u.Candidate))
	}
	sort.Strings(out)
	return out, res
}

func diffSets(t *testing.T, what string, apt, ours []string) {
	t.Helper()
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	a, o := in(apt), in(ours)
	var onlyApt, onlyOurs []string
	for x := range a {
		if !o[x] {
			onlyApt = append(onlyApt, x)
		}
	}
	for x := range o {
		if !a[x] {
			onlyOurs = append(onlyOurs, x)
		}
	}
	sort.Strings(onlyApt)
	sort.Strings(onlyOurs)
	if len(onlyApt)+len(onlyOurs) > 0 {
		t.Errorf("%s: upgradable sets differ (apt %d, nodeguard %d)\nonly apt:\n  %s\nonly nodeguard:\n  %s",
			what, len(apt), len(ours), strings.Join(onlyApt, "\n  "), strings.Join(onlyOurs, "\n  "))
	}
}

// TestLiveMatchesApt compares with apt on this machine's own state.
func TestLiveMatchesApt(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("not a dpkg host")
	}
	ours, res := ourUpgradable(t, "/", DefaultConfig())
	apt := aptUpgradable(t, "/", res.Native, "")
	t.Logf("live: %d installed, %d lists, apt %d upgradable, nodeguard %d, problems %v", len(res.Installed), res.Lists, len(apt), len(ours), res.Problems)
	diffSets(t, "live state", apt, ours)
}

// TestFixtureMatchesApt runs apt over the probe's committed Debian host:
// deb822 and one-line sources, a disabled entry, arch= option, clearsigned
// InRelease files, lists in four compressions, a locally rebuilt package, a NotAutomatic +
// ButAutomaticUpgrades archive, a general and a 1001 specific pin that
// masks a security update, a held package, an arch:all package and a
// config-files leftover.
func TestFixtureMatchesApt(t *testing.T) {
	const root = "../testdata/debian"
	ours, res := ourUpgradable(t, root, DefaultConfig())
	apt := aptUpgradable(t, root, "amd64", "")
	diffSets(t, root, apt, ours)
	want := []string{
		"base-files:amd64 12.4+deb12u5 12.4+deb12u6",
		"curl:amd64 7.88.1-10+deb12u4 7.88.1-10+deb12u5",
		"libcurl4:amd64 7.88.1-10+deb12u4 7.88.1-10+deb12u5",
		"libssl3:amd64 3.0.11-1~deb12u1 3.0.13-1~deb12u1",
		"openssl:amd64 3.0.11-1~deb12u1 3.0.13-1~deb12u1",
		"tzdata:amd64 2024a-0+deb12u1 2024b-0+deb12u1",
		// The installed vim-tiny is a local rebuild (other Installed-Size):
		// apt offers the archive's build of the same version.
		"vim-tiny:amd64 2:9.0.1378-2 2:9.0.1378-2",
		"zlib1g:amd64 1:1.2.13.dfsg-1 1:1.2.13.dfsg-1+deb12u1",
	}
	if strings.Join(ours, "\n") != strings.Join(want, "\n") {
		t.Errorf("upgradable:\n%s\nwant:\n%s", strings.Join(ours, "\n"), strings.Join(want, "\n"))
	}
	sec := map[string]bool{}
	for _, u := range res.Upgrades {
		if u.Security {
			sec[u.Name] = true
		}
	}
	if len(sec) != 3 || !sec["openssl"] || !sec["libssl3"] || !sec["zlib1g"] {
		t.Errorf("security upgrades = %v, want openssl, libssl3, zlib1g", sec)
	}
	var masked []string
	for _, m := range res.Masked {
		masked = append(masked, m.Name+" "+m.Candidate+" "+m.SecurityVersion)
	}
	sort.Strings(masked)
	if strings.Join(masked, ",") != "curl 7.88.1-10+deb12u5 7.88.1-10+deb12u6,libcurl4 7.88.1-10+deb12u5 7.88.1-10+deb12u6" {
		t.Errorf("masked = %v", masked)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems: %v", res.Problems)
	}
}
