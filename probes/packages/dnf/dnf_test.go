package dnf

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

const fixture = "../testdata/rhel-dnf"

func scanDir(t *testing.T, dir string) *Result {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	inst, err := rpm.Read(root, "/var/lib/rpm/rpmdb.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return Scan(root, inst)
}

func updateLines(res *Result, onlySecurity bool) []string {
	var out []string
	for _, u := range res.Updates {
		if !onlySecurity || u.Security {
			out = append(out, u.Name+"."+u.Arch+" "+u.Candidate+" "+u.Repo)
		}
	}
	sort.Strings(out)
	return out
}

// TestFixture: the cache dnf makecache wrote for the fixture repos (see
// testdata/gen/rhel-dnf.sh), judged as `dnf check-update` judged it.
func TestFixture(t *testing.T) {
	res := scanDir(t, fixture)
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	if !res.Known() || strings.Join(res.Repos, ",") != "ng-appstream,ng-baseos" || strings.Join(res.Sources, ",") != SourceDNF {
		t.Errorf("repos %v sources %v", res.Repos, res.Sources)
	}
	want := []string{
		"bash.x86_64 5.1.8-9.el9 ng-baseos",
		"kernel-core.x86_64 5.14.0-362.18.1.el9_3 ng-baseos",
		"openssl-libs.i686 1:3.0.7-25.el9_3 ng-baseos",
		"openssl-libs.x86_64 1:3.0.7-27.el9 ng-baseos",
		"python3-pip-wheel.x86_64 21.2.3-7.el9 ng-appstream",
		"tzdata.noarch 2024a-1.el9 ng-appstream",
	}
	if got := updateLines(res, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("updates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantSec := []string{want[1], want[2], want[3]}
	if got := updateLines(res, true); strings.Join(got, "\n") != strings.Join(wantSec, "\n") {
		t.Errorf("security updates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSec, "\n"))
	}
	for _, u := range res.Updates {
		if u.Name == "openssl-libs" && u.Arch == "x86_64" && (u.Installed != "1:3.0.7-24.el9" || strings.Join(u.Advisories, ",") != "RHSA-2024:0101") {
			t.Errorf("openssl-libs: %+v", u)
		}
		if u.Name == "kernel-core" && u.Installed != "5.14.0-362.13.1.el9_3" {
			t.Errorf("install-only kernel compared with %s, want the newest installed", u.Installed)
		}
	}
	if len(res.Masked) != 1 || res.Masked[0].Name != "curl" || res.Masked[0].SecurityVersion != "7.76.1-29.el9" || res.Masked[0].Advisory != "RHSA-2024:0104" {
		t.Errorf("masked: %+v", res.Masked)
	}
}

// TestAgainstDNF runs dnf itself, cache-only, on a copy of the fixture and
// compares its check-update answers with ours.
func TestAgainstDNF(t *testing.T) {
	dnfBin, err := exec.LookPath("dnf")
	if err != nil {
		t.Skip("dnf is not installed (Debian package dnf); the differential test needs it")
	}
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", fixture+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	// dnf reads the rpmdb where this machine's rpm keeps it (Debian: ~/.rpmdb).
	dbpath, err := exec.Command("rpm", "--eval", "%_dbpath").Output()
	if err != nil {
		t.Skipf("rpm --eval: %v", err)
	}
	if db := strings.TrimSpace(string(dbpath)); db != "/var/lib/rpm" {
		link := filepath.Join(dir, db)
		os.MkdirAll(filepath.Dir(link), 0o755)
		rel, _ := filepath.Rel(filepath.Dir(link), filepath.Join(dir, "var/lib/rpm"))
		if err := os.Symlink(rel, link); err != nil {
			t.Fatal(err)
		}
	}
	dnf := func(args ...string) []string {
		base := []string{"--installroot=" + dir, "--setopt=reposdir=" + dir + "/etc/yum.repos.d",
			"--setopt=cachedir=" + dir + "/var/cache/dnf", "--config=" + dir + "/etc/dnf/dnf.conf",
			"--releasever=9", "-C", "-q", "check-update"}
		cmd := exec.Command(dnfBin, append(base, args...)...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		// check-update exits 100 when updates are available.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 100) {
			t.Fatalf("dnf check-update %v: %v: %s", args, err, stderr.String())
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				lines = append(lines, strings.Join(f, " "))
			}
		}
		sort.Strings(lines)
		return lines
	}
	all, sec := dnf(), dnf("--security")
	if len(all) == 0 {
		t.Fatal("dnf saw no updates: it did not read the fixture")
	}
	res := scanDir(t, fixture)
	if got := updateLines(res, false); strings.Join(got, "\n") != strings.Join(all, "\n") {
		t.Errorf("dnf check-update:\n%s\nwe say:\n%s", strings.Join(all, "\n"), strings.Join(got, "\n"))
	}
	if got := updateLines(res, true); strings.Join(got, "\n") != strings.Join(sec, "\n") {
		t.Errorf("dnf check-update --security:\n%s\nwe say:\n%s", strings.Join(sec, "\n"), strings.Join(got, "\n"))
	}
}

func TestParseINI(t *testing.T) {
	secs, err := parseINI("x.repo", []byte("# c\n[a]\nname = A\nbaseurl=http://x/\n  http://y/\nenabled: 0\n; c\n[b]\nexcludepkgs=k*, z\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].keys["baseurl"] != "http://x/ http://y/" || boolean(secs[0].keys["enabled"], true) {
		t.Errorf("sections: %+v", secs)
	}
	if r := repoFromSection(secs[1], "x.repo"); !r.Enabled || strings.Join(r.Exclude, "|") != "k*|z" {
		t.Errorf("repo b: %+v", r)
	}
	for _, bad := range []string{"[a\nx=1\n", "x=1\n", "[a]\njunk\n", "[a]\nx=\x00\n"} {
		if _, err := parseINI("bad.repo", []byte(bad)); err == nil || !strings.Contains(err.Error(), "bad.repo") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", fixture+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dir
}

// TestYumSQLite: yum's layout with the sqlite primary createrepo_c wrote,
// compressed (decompressed in memory) and as yum's decompressed gen/ copy.
func TestYumSQLite(t *testing.T) {
	dir := copyFixture(t)
	os.RemoveAll(filepath.Join(dir, "var/cache/dnf"))
	os.Rename(filepath.Join(dir, "etc/dnf/dnf.conf"), filepath.Join(dir, "etc/yum.conf"))
	os.Remove(filepath.Join(dir, "etc/yum.repos.d/ng-appstream.repo"))
	yum := filepath.Join(dir, "var/cache/yum/x86_64/9/ng-baseos")
	os.MkdirAll(filepath.Dir(yum), 0o755)
	if out, err := exec.Command("cp", "-a", "../testdata/yum-cache/ng-baseos", yum).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	want := []string{
		"bash.x86_64 5.1.8-9.el9 ng-baseos",
		"kernel-core.x86_64 5.14.0-362.18.1.el9_3 ng-baseos",
		"openssl-libs.i686 1:3.0.7-25.el9_3 ng-baseos",
		"openssl-libs.x86_64 1:3.0.7-27.el9 ng-baseos",
	}
	check := func(what string) {
		t.Helper()
		res := scanDir(t, dir)
		if len(res.Problems) > 0 || strings.Join(res.Sources, ",") != SourceYum {
			t.Fatalf("%s: problems %v, sources %v", what, res.Problems, res.Sources)
		}
		if got := updateLines(res, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: updates:\n%s", what, strings.Join(got, "\n"))
		}
		if got := updateLines(res, true); len(got) != 3 || len(res.Masked) != 1 {
			t.Errorf("%s: security %v masked %+v", what, got, res.Masked)
		}
	}
	check("compressed sqlite")
	bz, _ := filepath.Glob(filepath.Join(yum, "*-primary.sqlite.bz2"))
	if len(bz) != 1 {
		t.Fatalf("fixture primary.sqlite.bz2: %v", bz)
	}
	os.MkdirAll(filepath.Join(yum, "gen"), 0o755)
	out, err := exec.Command("sh", "-c", "bzip2 -dc "+bz[0]+" > "+filepath.Join(yum, "gen/primary_db.sqlite")+" && rm "+bz[0]).CombinedOutput()
	if err != nil {
		t.Skipf("bzip2: %v: %s", err, out)
	}
	check("gen/primary_db.sqlite")
}

// TestUnknown: without a cache of an enabled repo the counts are unknown,
// and a repo without a cache is named.
func TestUnknown(t *testing.T) {
	dir := copyFixture(t)
	os.RemoveAll(filepath.Join(dir, "var/cache/dnf"))
	if res := scanDir(t, dir); res.Known() || len(res.Uncached) != 2 {
		t.Errorf("no cache: known=%v uncached=%v", res.Known(), res.Uncached)
	}
	dir = copyFixture(t)
	os.WriteFile(filepath.Join(dir, "etc/yum.repos.d/extra.repo"), []byte("[ng-extras]\nbaseurl=http://x/\n"), 0o644)
	res := scanDir(t, dir)
	if !res.Known() || strings.Join(res.Uncached, ",") != "ng-extras" || len(res.Updates) != 6 {
		t.Errorf("one repo without cache: uncached=%v updates=%d", res.Uncached, len(res.Updates))
	}
	// Enabling the testing repo brings its zlib security fix.
	dir = copyFixture(t)
	os.WriteFile(filepath.Join(dir, "etc/yum.repos.d/ng-testing.repo"), []byte("[ng-testing]\nbaseurl=file:///x\n"), 0o644)
	if res := scanDir(t, dir); len(updateLines(res, true)) != 4 {
		t.Errorf("enabled testing repo: security %v", updateLines(res, true))
	}
}

// TestBadCache: broken metadata is a problem naming the file, and the repo
// counts as uncached rather than as having no updates.
func TestBadCache(t *testing.T) {
	baseos := "var/cache/dnf/ng-baseos-a9e73bb623169111/repodata/"
	one := func(dir, glob string) string {
		m, _ := filepath.Glob(filepath.Join(dir, baseos, glob))
		if len(m) != 1 {
			t.Fatalf("%s: %v", glob, m)
		}
		return m[0]
	}
	for _, c := range []struct {
		name   string
		change func(dir string) string // returns the host path expected in the problem
		msg    string
	}{
		{"truncated primary", func(dir string) string {
			p := one(dir, "*-primary.xml.gz")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
			return strings.TrimPrefix(p, dir)
		}, "unexpected EOF"},
		{"garbage primary", func(dir string) string {
			p := one(dir, "*-primary.xml.gz")
			os.WriteFile(p, gz([]byte("<metadata><package><name>bash</name></metadata>\x00")), 0o644)
			return strings.TrimPrefix(p, dir)
		}, ""},
		{"garbage repomd", func(dir string) string {
			os.WriteFile(filepath.Join(dir, baseos, "repomd.xml"), []byte("\x00\x01binary"), 0o644)
			return "/" + baseos + "repomd.xml"
		}, ""},
		{"zchunk only", func(dir string) string {
			p := one(dir, "*-primary.xml.gz")
			os.Rename(p, strings.TrimSuffix(p, ".gz")+".zck")
			return "/" + baseos + "repomd.xml"
		}, "no primary metadata"},
		{"broken updateinfo", func(dir string) string {
			p := one(dir, "*-updateinfo.xml.gz")
			os.WriteFile(p, []byte("not gzip"), 0o644)
			return strings.TrimPrefix(p, dir)
		}, "security advisories unreadable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t)
			file := c.change(dir)
			res := scanDir(t, dir)
			found := false
			for _, p := range res.Problems {
				if p.File == file && strings.Contains(p.Error(), c.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem for %s with %q: %v", file, c.msg, res.Problems)
			}
			if c.name != "broken updateinfo" && (len(res.Uncached) != 1 || res.Uncached[0] != "ng-baseos") {
				t.Errorf("uncached = %v", res.Uncached)
			}
		})
	}
}

func FuzzPrimaryXML(f *testing.F) {
	f.Add([]byte(`<metadata><package type="rpm"><name>bash</name><arch>x86_64</arch><version epoch="0" ver="1" rel="2"/><format><rpm:x/></format></package></metadata>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		parsePrimaryXML(bytes.NewReader(b), "r", func(string) bool { return true }, func(Available) {})
		parseUpdateinfo(bytes.NewReader(b), func(string) bool { return true })
	})
}

// TestFormatSkipper: the filter drops exactly the <format> elements, with
// tags split across reads of any size.
func TestFormatSkipper(t *testing.T) {
	in := `<m><package><name>a</name><format><rpm:x a="1"/><file>/f</file></format></package>` +
		`<package><name>b&lt;format&gt;</name><format></format></package></m>`
	want := `<m><package><name>a</name></package><package><name>b&lt;format&gt;</name></package></m>`
	for _, chunk := range []int{1, 2, 3, 7, 8, 9, 64, 1 << 20} {
		var got bytes.Buffer
		if _, err := io.Copy(&got, newFormatSkipper(&chunkReader{s: in, n: chunk})); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if got.String() != want {
			t.Errorf("chunk %d: %s", chunk, got.String())
		}
	}
	if _, err := io.ReadAll(newFormatSkipper(strings.NewReader("<p><format><x/>"))); err != io.ErrUnexpectedEOF {
		t.Errorf("unclosed <format>: err = %v", err)
	}
}

type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[n:]
	return n, nil
}
