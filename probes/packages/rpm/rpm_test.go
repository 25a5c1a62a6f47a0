package rpm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/rpm/rpmtest"
)

func TestCompareSegments(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0.1", "2.0", 1}, {"1.0a", "1.0", 1},
		{"1.0~rc1", "1.0", -1}, {"1.0^git1", "1.0", 1}, {"1.0^git1", "1.0.1", -1},
		{"10", "9", 1}, {"010", "10", 0}, {"a", "1", -1}, {"1.el9", "1.el8", 1},
		{"1.0~rc1", "1.0~rc2", -1}, {"5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3", -1},
	} {
		if got := CompareSegments(c.a, c.b); got != c.want {
			t.Errorf("CompareSegments(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareSegments(c.b, c.a); got != -c.want {
			t.Errorf("CompareSegments(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
	if CompareEVR("1:1.0-1", "2.0-1") <= 0 || CompareEVR("1.0-2", "1.0-10") >= 0 {
		t.Error("epoch or release ordering wrong")
	}
}

// TestReadBerkeleyDB reads a real CentOS BerkeleyDB rpmdb: the one go-rpmdb
// ships as test data, found through the module cache.
func TestReadBerkeleyDB(t *testing.T) {
	src := centos7Packages(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(root, "var/lib/rpm/Packages")); err != nil {
		t.Fatal(err)
	}
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// An absolute symlink out of the root must not be followed.
	if _, err := Read(r, "/var/lib/rpm/Packages"); err == nil {
		t.Fatal("symlink out of the host root was followed")
	}
	os.Remove(filepath.Join(root, "var/lib/rpm/Packages"))
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/rpm/Packages"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs, err := Read(r, "/var/lib/rpm/Packages")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]Package{}
	for _, p := range pkgs {
		found[p.Name] = p
	}
	if len(pkgs) < 100 {
		t.Fatalf("only %d packages read", len(pkgs))
	}
	bash, ok := found["bash"]
	if !ok || !strings.HasPrefix(bash.Version, "4.2") || bash.Arch != "x86_64" || bash.SourceName() != "bash" {
		t.Errorf("bash = %+v", bash)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/rpm/Packages.db"), []byte("RpmP"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(r, "/var/lib/rpm/Packages.db"); err == nil || !strings.Contains(err.Error(), "/var/lib/rpm/Packages.db") {
		t.Errorf("4-byte ndb: err = %v, want an error naming the file", err)
	}
	// A corrupt database is an error, not a crash.
	if err := os.WriteFile(filepath.Join(root, "var/lib/rpm/Packages"), data[:4096], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(r, "/var/lib/rpm/Packages"); err == nil {
		t.Error("truncated database: no error")
	}
}

// TestReadSQLite reads an rpmdb.sqlite that rpm 4.18 itself wrote (from the
// specs in testdata: rpm --initdb, rpm -i --justdb), one header spanning
// overflow pages, and compares with `rpm -qa` when rpm is installed.
func TestReadSQLite(t *testing.T) {
	r, err := hostfs.Open("testdata/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pkgs, err := Read(r, "/var/lib/rpm/rpmdb.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"-"+p.EVR()+"."+p.Arch)
	}
	sort.Strings(got)
	want := []string{"kernel-core-5.14.0-362.8.1.el9_3.noarch", "ng-bigheader-0.9-1.noarch", "ng-tiny-2:1.2.3-4.el9.noarch"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("packages = %v, want %v", got, want)
	}
	if rpmBin, err := exec.LookPath("rpm"); err == nil {
		dir := t.TempDir()
		data, _ := os.ReadFile("testdata/sqlite/var/lib/rpm/rpmdb.sqlite")
		os.WriteFile(filepath.Join(dir, "rpmdb.sqlite"), data, 0o644)
		out, err := exec.Command(rpmBin, "--dbpath", dir, "-qa", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n").Output()
		if err != nil {
			t.Fatalf("rpm -qa: %v", err)
		}
		var rpmSays []string
		for _, l := range strings.Fields(string(out)) {
			rpmSays = append(rpmSays, strings.Replace(l, "-0:", "-", 1))
		}
		sort.Strings(rpmSays)
		if strings.Join(rpmSays, " ") != strings.Join(got, " ") {
			t.Errorf("rpm -qa says %v, we read %v", rpmSays, got)
		}
	}
	// Truncated and garbage databases are errors, not crashes.
	data, _ := os.ReadFile("testdata/sqlite/var/lib/rpm/rpmdb.sqlite")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "var/lib/rpm"), 0o755)
	br, _ := hostfs.Open(dir)
	defer br.Close()
	for _, bad := range [][]byte{data[:len(data)/3], data[:50], []byte("SQLite format 3\x00garbage"), bytes.Repeat([]byte{0xff}, 8192)} {
		os.WriteFile(filepath.Join(dir, "var/lib/rpm/rpmdb.sqlite"), bad, 0o644)
		if _, err := Read(br, "/var/lib/rpm/rpmdb.sqlite"); err == nil {
			t.Errorf("corrupt database of %d bytes: no error", len(bad))
		}
	}
}

func FuzzSQLite(f *testing.F) {
	data, err := os.ReadFile("testdata/sqlite/var/lib/rpm/rpmdb.sqlite")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:8192])
	f.Fuzz(func(t *testing.T, b []byte) {
		blobs, _ := sqlitePackages(bytes.NewReader(b), int64(len(b)))
		for _, bl := range blobs {
			parseHeader(bl)
			headerFiles(bl)
		}
	})
}

// TestOwnersAgreesWithRPM records a package with files in a fresh
// rpmdb.sqlite (rpmbuild, rpm -i --justdb) and holds Owners to rpm -qf.
func TestOwnersAgreesWithRPM(t *testing.T) {
	rpmBin, _ := rpmtest.Tools(t)
	root := t.TempDir()
	dbpath := rpmtest.Install(t, root, "ng-files", "/usr/bin/ng-tool", "/usr/libexec/ng/", "/usr/libexec/ng/helper", "/usr/libexec/ng/other")
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	paths := []string{"/usr/bin/ng-tool", "/usr/libexec/ng/helper", "/usr/libexec/ng/other", "/usr/libexec/ng", "/usr/bin/not-packaged"}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	got, err := Owners(r, "/var/lib/rpm/rpmdb.sqlite", func(p string) bool { return want[p] })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		out, err := exec.Command(rpmBin, "--dbpath", dbpath, "-qf", "--qf", "%{NAME}", p).Output()
		rpmSays := strings.TrimSpace(string(out))
		if err != nil {
			rpmSays = "" // "file ... is not owned by any package"
		}
		if got[p] != rpmSays {
			t.Errorf("%s: Owners says %q, rpm -qf says %q", p, got[p], rpmSays)
		}
	}
	if len(got) != 4 {
		t.Errorf("owners %v, want the package's 4 paths", got)
	}
}

// TestOwnersBerkeleyDB reads file lists from a BerkeleyDB Packages (CentOS 7,
// go-rpmdb's test data) through go-rpmdb.
func TestOwnersBerkeleyDB(t *testing.T) {
	src := centos7Packages(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "var/lib/rpm/Packages"), data, 0o644)
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := Owners(r, "/var/lib/rpm/Packages", func(p string) bool { return p == "/usr/bin/bash" || p == "/usr/bin/nodeguard" })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["/usr/bin/bash"] != "bash" {
		t.Errorf("owners %v, want /usr/bin/bash of bash", got)
	}
}

// centos7Packages is go-rpmdb's BerkeleyDB Packages of a CentOS 7 host.
func centos7Packages(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Skipf("cannot locate go-rpmdb's test data (go list: %v)", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "pkg/testdata/centos7-plain/Packages")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("go-rpmdb test data missing: %v", err)
	}
	return src
}
