package deb

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// fixtureRepo is one archive of a generated host.
type fixtureRepo struct {
	uri, suite, comp                 string
	origin, label, archive, codename string
	notAuto, butAuto                 bool
	inRelease                        bool   // clearsigned InRelease instead of Release
	ext                              string // list compression
	oneLine                          bool   // sources.list instead of deb822
	pkgs                             map[string]string
	builds                           map[string]int
}

type fixturePkg struct {
	name, arch, version, status string
}

func writeFile(t testing.TB, root, p string, data []byte) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func compress(t testing.TB, ext string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case "":
		return data
	case ".gz":
		w = gzip.NewWriter(&b)
	case ".lz4":
		w = lz4.NewWriter(&b)
	case ".xz":
		w, err = xz.NewWriter(&b)
	case ".zst":
		w, err = zstd.NewWriter(&b)
	case ".bz2":
		return bzip2Data(t, data)
	default:
		t.Fatalf("no compressor for %q", ext)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bzip2Data compresses with the bzip2 tool: Go's library only decompresses.
func bzip2Data(t testing.TB, data []byte) []byte {
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("bzip2 tool not available: %v", err)
	}
	return out
}

// writeHost lays out a host tree the way dpkg and apt-get update leave it.
func writeHost(t testing.TB, root string, installed []fixturePkg, archOf map[string]string, repos []fixtureRepo, prefs string, defaultRelease string) {
	var st bytes.Buffer
	for _, p := range installed {
		fmt.Fprintf(&st, "Package: %s\nStatus: %s\nPriority: optional\nInstalled-Size: 100\nMaintainer: Test <t@example.org>\nArchitecture: %s\nVersion: %s\nDepends: libc6 (>= 2.36)\nDescription: test package %s\n\n",
			p.name, p.status, p.arch, p.version, p.name)
	}
	writeFile(t, root, "var/lib/dpkg/status", st.Bytes())
	var list, deb822 bytes.Buffer
	for _, r := range repos {
		if r.oneLine {
			fmt.Fprintf(&list, "deb %s %s %s\n", r.uri, r.suite, r.comp)
		} else {
			fmt.Fprintf(&deb822, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n\n", r.uri, r.suite, r.comp)
		}
		var rel bytes.Buffer
		fmt.Fprintf(&rel, "Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nDate: Sat, 28 Nov 2026 10:00:00 UTC\nArchitectures: amd64 all\nComponents: %s\n",
			r.origin, r.label, r.archive, r.codename, r.comp)
		if r.notAuto {
			rel.WriteString("NotAutomatic: yes\n")
		}
		if r.butAuto {
			rel.WriteString("ButAutomaticUpgrades: yes\n")
		}
		rel.WriteString("Description: generated fixture\n")
		name := "Release"
		data := rel.Bytes()
		if r.inRelease {
			name = "InRelease"
			data = []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + rel.String() +
				"-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEEfixture\n=abcd\n-----END PGP SIGNATURE-----\n")
		}
		writeFile(t, root, filepath.Join("var/lib/apt/lists", ListFileName(r.uri, "dists/"+r.suite+"/"+name)), data)
		var pk bytes.Buffer
		names := make([]string, 0, len(r.pkgs))
		for n := range r.pkgs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			// Builds: mostly identical to the installed one (dependency
			// formatting differs, which apt ignores), sometimes a rebuild
			// with another Installed-Size or download Size.
			v, build := r.pkgs[n], r.builds[n]
			size, dep := "100", "libc6 (>=2.36)"
			if build == 1 {
				size = "999"
			}
			fmt.Fprintf(&pk, "Package: %s\nVersion: %s\nInstalled-Size: %s\nArchitecture: %s\nMaintainer: Test <t@example.org>\nDepends: %s\nSize: %d\nDescription: test package %s\n continued description line\n\n",
				n, v, size, archOf[n], dep, 1000+build%3, n)
		}
		writeFile(t, root, filepath.Join("var/lib/apt/lists",
			ListFileName(r.uri, "dists/"+r.suite+"/"+r.comp+"/binary-amd64/Packages")+r.ext), compress(t, r.ext, pk.Bytes()))
	}
	writeFile(t, root, "etc/apt/sources.list", list.Bytes())
	writeFile(t, root, "etc/apt/sources.list.d/fixture.sources", deb822.Bytes())
	writeFile(t, root, "etc/apt/preferences.d/fixture", []byte(prefs))
	conf := ""
	if defaultRelease != "" {
		conf = fmt.Sprintf("APT::Default-Release \"%s\";\n", defaultRelease)
	}
	writeFile(t, root, "etc/apt/apt.conf", []byte(conf))
	if err := os.MkdirAll(filepath.Join(root, "etc/apt/apt.conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// randVersion draws from a small space so that versions collide across
// archives and with the installed one, as real archives do.
func randVersion(r *rand.Rand) string {
	v := fmt.Sprintf("%d.%d", 1+r.IntN(2), r.IntN(3))
	switch r.IntN(6) {
	case 0:
		v += "~rc1"
	case 1:
		v += "+b1"
	}
	if r.IntN(8) == 0 {
		v = "1:" + v
	}
	v += fmt.Sprintf("-%d", 1+r.IntN(2))
	switch r.IntN(5) {
	case 0:
		v += "+deb12u1"
	case 1:
		v += "~bpo12+1"
	}
	return v
}

func randomHost(t testing.TB, seed uint64, root string) (defRel string) {
	r := rand.New(rand.NewPCG(seed, 1))
	const n = 30
	archOf := map[string]string{}
	var installed []fixturePkg
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pkg%02d", i)
		if i%7 == 0 {
			name = fmt.Sprintf("lib%02d", i)
		}
		arch := "amd64"
		if r.IntN(4) == 0 {
			arch = "all"
		}
		archOf[name] = arch
		status := "install ok installed"
		switch r.IntN(8) {
		case 0:
			status = "hold ok installed"
		case 1:
			status = "deinstall ok config-files"
		}
		if r.IntN(10) == 0 {
			continue // not installed at all
		}
		installed = append(installed, fixturePkg{name, arch, randVersion(r), status})
	}
	exts := []string{"", ".gz", ".xz", ".lz4", ".zst"}
	repos := []fixtureRepo{
		{uri: "http://deb.example.org/debian", suite: "bookworm", comp: "main", origin: "Debian", label: "Debian", archive: "stable", codename: "bookworm"},
		{uri: "http://deb.example.org/debian-security", suite: "bookworm-security", comp: "main", origin: "Debian", label: "Debian-Security", archive: "stable-security", codename: "bookworm-security"},
		{uri: "http://deb.example.org/debian", suite: "bookworm-backports", comp: "main", origin: "Debian Backports", label: "Debian Backports", archive: "stable-backports", codename: "bookworm-backports", notAuto: true, butAuto: true},
		{uri: "http://deb.example.org/debian", suite: "experimental", comp: "main", origin: "Debian", label: "Debian", archive: "experimental", codename: "rc-buggy", notAuto: true},
		{uri: "https://user:pw@vendor.example.com:8443/apt_repo", suite: "stable", comp: "contrib", origin: "Vendor", label: "Vendor~Tools", archive: "stable", codename: "v1"},
	}
	for i := range repos {
		repos[i].ext = exts[r.IntN(len(exts))]
		repos[i].inRelease = r.IntN(2) == 0
		repos[i].oneLine = r.IntN(2) == 0
		repos[i].pkgs = map[string]string{}
		repos[i].builds = map[string]int{}
		for _, name := range archNames(archOf) {
			if r.IntN(2) == 0 {
				repos[i].pkgs[name] = randVersion(r)
				repos[i].builds[name] = r.IntN(8)
			}
		}
	}
	var prefs strings.Builder
	prios := []int{-1, 1, 50, 100, 400, 500, 600, 990, 1001}
	pinData := []string{
		"release a=stable", "release n=bookworm-backports", "release o=Debian", "release l=Debian-Security",
		"release c=contrib", "release a=experimental", "release o=Vendor,a=stable", "release bookworm-security",
		"release stable*", "origin vendor.example.com", "origin deb.example.org", "release a=now", "release l=vendor~*",
		"release /back/",
	}
	for i := r.IntN(6); i > 0; i-- {
		pkg := "*"
		data := pinData[r.IntN(len(pinData))]
		switch r.IntN(4) {
		case 0:
			pkg = archNames(archOf)[r.IntN(len(archOf))]
			if r.IntN(2) == 0 {
				data = "version " + []string{"1.*", "2.0-1", "1:*", "2*"}[r.IntN(4)]
			}
		case 1:
			pkg = []string{"pkg1*", "lib*", "/pkg0[0-5]/", "pkg03 pkg04"}[r.IntN(4)]
		}
		fmt.Fprintf(&prefs, "# pin %d\nPackage: %s\nPin: %s\nPin-Priority: %d\n\n", i, pkg, data, prios[r.IntN(len(prios))])
	}
	if r.IntN(4) == 0 {
		defRel = []string{"stable", "bookworm-backports", "a=experimental"}[r.IntN(3)]
	}
	writeHost(t, root, installed, archOf, repos, prefs.String(), defRel)
	return defRel
}

func archNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRandomHostsMatchApt builds many generated hosts (pins, holds,
// NotAutomatic and ButAutomaticUpgrades archives, several suites and
// compressions) and compares every upgradable set with real apt's.
func TestRandomHostsMatchApt(t *testing.T) {
	n := 40
	if v := os.Getenv("NODEGUARD_APT_SEEDS"); v != "" {
		fmt.Sscan(v, &n)
	}
	if testing.Short() {
		n = 8
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		root := t.TempDir()
		defRel := randomHost(t, seed, root)
		ours, res := ourUpgradable(t, root, DefaultConfig())
		for _, p := range res.Problems {
			t.Errorf("seed %d: problem: %v", seed, p)
		}
		apt := aptUpgradable(t, root, "amd64", defRel)
		diffSets(t, fmt.Sprintf("seed %d (%s)", seed, root), apt, ours)
		if t.Failed() {
			prefs, _ := os.ReadFile(filepath.Join(root, "etc/apt/preferences.d/fixture"))
			t.Logf("seed %d preferences:\n%s\ndefault release %q", seed, prefs, defRel)
			return
		}
	}
}
