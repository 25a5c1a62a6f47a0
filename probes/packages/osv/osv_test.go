package osv

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// load reads a bundle below dir, the host root.
func load(t *testing.T, dir, bundle string, want Want) *DB {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	db, err := Load(root, bundle, want)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMatch(t *testing.T) {
	db, err := Load(testRoot(t), "/bundle", nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 4 {
		t.Fatalf("loaded %d advisories, want 4", db.Len())
	}
	for _, c := range []struct {
		eco, name, version string
		want               []string
		fixed              string
	}{
		{"Debian:12", "openssl", "3.0.11-1~deb12u1", []string{"DSA-5532-1"}, "3.0.11-1~deb12u2"},
		{"Debian:12", "openssl", "3.0.11-1~deb12u2", nil, ""},
		{"Debian:12", "openssl", "3.0.15-1~deb12u1", nil, ""},
		{"Debian:11", "openssl", "1.1.1n-0+deb11u5", []string{"DSA-5532-1"}, "1.1.1w-0+deb11u1"},
		{"Debian:12", "zlib", "1:1.2.13.dfsg-1", []string{"DLA-0001-1"}, "1:1.2.13.dfsg-1+deb12u1"},
		{"Debian:12", "zlib", "1.2.13.dfsg-1", nil, ""}, // before "introduced": epoch 0 < 1
		{"Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.15", []string{"USN-6000-1"}, "7.81.0-1ubuntu1.16"},
		{"Alpine:v3.19", "musl", "1.2.4-r2", []string{"ALPINE-CVE-2024-0003"}, "1.2.4_git20230717-r5"},
		{"Alpine:v3.19", "musl", "1.2.4_git20230717-r5", nil, ""},
		{"Alpine:v3.19", "busybox", "1.36.1-r5", []string{"ALPINE-CVE-2024-0003"}, ""},
		{"Alpine:v3.19", "busybox", "1.36.1-r6", nil, ""},
		{"Alpine:v3.18", "musl", "1.2.4-r2", nil, ""},
	} {
		vs, err := db.Match(c.eco, c.name, c.version)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.eco, c.name, c.version, err)
			continue
		}
		var ids []string
		fixed := ""
		for _, v := range vs {
			ids = append(ids, v.ID)
			fixed = v.Fixed
		}
		if !reflect.DeepEqual(ids, c.want) || fixed != c.fixed {
			t.Errorf("%s %s %s: got %v fixed %q, want %v fixed %q", c.eco, c.name, c.version, ids, fixed, c.want, c.fixed)
		}
	}
	vs, _ := db.Match("Debian:12", "openssl", "3.0.9-1")
	if len(vs) != 1 || !reflect.DeepEqual(vs[0].CVEs, []string{"CVE-2023-5363", "CVE-2023-5678"}) {
		t.Errorf("CVE ids = %+v", vs)
	}
	if vs, _ := db.Match("Debian:12", "zlib", "1:1.2.13.dfsg-1"); len(vs) != 1 || !reflect.DeepEqual(vs[0].CVEs, []string{"CVE-2024-0001"}) {
		t.Errorf("upstream CVE ids = %+v", vs)
	}
}

func TestCompareAPK(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.2.4-r2", "1.2.4-r10", -1}, {"1.2.4_rc1-r0", "1.2.4-r0", -1}, {"1.2.4_p1-r0", "1.2.4-r0", 1},
		{"1.2.4_git20230717-r5", "1.2.4-r2", 1}, {"1.36.1-r5", "1.36.1-r5", 0}, {"2.0a-r0", "2.0-r0", 1},
		{"1.10-r0", "1.9-r0", 1},
	} {
		if got := CompareAPK(c.a, c.b); got != c.want {
			t.Errorf("CompareAPK(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func testRoot(t *testing.T) *hostfs.Root {
	root, err := hostfs.Open("testdata")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

const debianJQ = `{"id":"DSA-0001-1","aliases":["CVE-2099-1111"],"affected":[{"package":{"ecosystem":"Debian:12","name":"jq"},` +
	`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.6-2.1+deb12u2"}]}]}]}`

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadMalformed: the case. A malformed file beside a valid
// advisory is skipped and named; the valid one still matches.
func TestLoadMalformed(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "osv/DSA-0001-1.json", debianJQ)
	write(t, dir, "osv/broken.json", "{not json")
	write(t, dir, "osv/empty.json", "")
	write(t, dir, "osv/noid.json", `{"affected":[]}`)
	write(t, dir, "osv/trailing.json", debianJQ+"}")
	write(t, dir, "osv/README.md", "not a record")
	for i := range 7 {
		write(t, dir, fmt.Sprintf("osv/more/bad-%d.json", i), "[{")
	}
	db := load(t, dir, "/osv", nil)
	if vs, err := db.Match("Debian:12", "jq", "1.6-2.1+deb12u1"); err != nil || len(vs) != 1 || vs[0].ID != "DSA-0001-1" {
		t.Errorf("jq beside malformed files: %+v %v", vs, err)
	}
	n, names := db.Bad()
	if n != 11 || len(names) != MaxBadNames {
		t.Fatalf("bad = %d %q, want 11 with %d named", n, names, MaxBadNames)
	}
	for i, want := range []string{"/osv/broken.json: ", "/osv/empty.json: empty file", "/osv/more/bad-0.json: ", "/osv/more/bad-1.json: ", "/osv/more/bad-2.json: "} {
		if !strings.HasPrefix(names[i], dir+want) {
			t.Errorf("bad[%d] = %q, want %q...", i, names[i], want)
		}
	}
	if db.Len() != 1 {
		t.Errorf("Len = %d, want 1", db.Len())
	}
	if _, err := Load(testRoot(t), "/missing", nil); err == nil {
		t.Error("missing bundle: no error")
	}
}

// TestLoadZip reads per-ecosystem exports: one advisory per entry, beside
// plain files, with a malformed entry skipped.
func TestLoadZip(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range map[string]string{
		"DSA-0001-1.json": debianJQ,
		"bad.json":        "{",
		"GO-2024-2491.json": `{"id":"GO-2024-2491","affected":[{"package":{"ecosystem":"Go","name":"github.com/opencontainers/runc"},` +
			`"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.12"}]}]}]}`,
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "osv/all.zip", buf.String())
	write(t, dir, "osv/corrupt.zip", "PK not really")
	db := load(t, dir, "/osv", Want{}.with("Go", "github.com/opencontainers/runc"))
	if vs, _ := db.Match("Go", "github.com/opencontainers/runc", "v1.1.11"); len(vs) != 1 || vs[0].Fixed != "1.1.12" {
		t.Errorf("runc v1.1.11 from the zip: %+v", vs)
	}
	if vs, _ := db.Match("Go", "github.com/opencontainers/runc", "v1.1.12"); len(vs) != 0 {
		t.Errorf("runc v1.1.12: %+v", vs)
	}
	if vs, _ := db.Match("Debian:12", "jq", "1.6-2.1+deb12u1"); len(vs) != 0 {
		t.Errorf("jq is not wanted, so not indexed: %+v", vs)
	}
	if n, names := db.Bad(); n != 2 || !strings.HasPrefix(names[0], dir+"/osv/all.zip!bad.json: ") || !strings.HasPrefix(names[1], dir+"/osv/corrupt.zip: ") {
		t.Errorf("bad = %d %q", n, names)
	}
	if db.Len() != 2 || db.Kept() != 1 {
		t.Errorf("Len %d Kept %d, want 2 and 1", db.Len(), db.Kept())
	}
	// The archive itself as the bundle.
	db = load(t, dir, "/osv/all.zip", nil)
	if db.Len() != 2 {
		t.Errorf("all.zip alone: Len %d", db.Len())
	}
}

func TestGoSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.1": "v1.22.1", "go1.21": "v1.21.0", "go1.21rc2": "v1.21.0-rc.2", "go1.20beta1": "v1.20.0-beta.1",
		"v1.1.11": "v1.1.11", "1.1.12": "v1.1.12",
	} {
		if got := GoSemver(in); got != want {
			t.Errorf("GoSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func (w Want) with(eco, name string) Want { w.Add(eco, name); return w }

func TestDistinct(t *testing.T) {
	for _, c := range []struct {
		name  string
		vs    []Vuln
		group []int
		n     int
	}{
		{"none", nil, []int{}, 0},
		{"one", []Vuln{{ID: "DSA-1"}}, []int{0}, 1},
		{"unrelated", []Vuln{{ID: "DSA-1", Aliases: []string{"CVE-1"}}, {ID: "DSA-2", Aliases: []string{"CVE-2"}}}, []int{0, 1}, 2},
		// An advisory covering two CVEs is one advisory.
		{"two CVEs", []Vuln{{ID: "DSA-5532-1", Aliases: []string{"CVE-2023-5363", "CVE-2023-5678"}}}, []int{0}, 1},
		// The Go database's record and GitHub's for one CVE.
		{"aliases", []Vuln{
			{ID: "GHSA-xr7r-f8xq-vfvv", Aliases: []string{"CVE-2024-21626"}},
			{ID: "GO-2024-2491", Aliases: []string{"CVE-2024-21626", "GHSA-xr7r-f8xq-vfvv"}},
		}, []int{0, 0}, 1},
		// One names the other.
		{"named", []Vuln{{ID: "GO-1"}, {ID: "GHSA-1", Aliases: []string{"GO-1"}}}, []int{0, 0}, 1},
		// The same advisory matched twice (two modules of one binary).
		{"same id", []Vuln{{ID: "GO-2024-2687"}, {ID: "GO-2024-2687"}}, []int{0, 0}, 1},
		// Joined through a third, numbered by first appearance.
		{"transitive", []Vuln{
			{ID: "A", Aliases: []string{"CVE-1"}}, {ID: "X"}, {ID: "B", Aliases: []string{"CVE-2"}},
			{ID: "C", Aliases: []string{"CVE-1", "CVE-2"}},
		}, []int{0, 1, 0, 0}, 2},
		{"later join", []Vuln{{ID: "X"}, {ID: "A"}, {ID: "B"}, {ID: "C", Aliases: []string{"B", "X"}}}, []int{0, 1, 0, 0}, 2},
	} {
		group, n := Distinct(c.vs)
		if n != c.n || !reflect.DeepEqual(group, c.group) {
			t.Errorf("%s: Distinct = %v, %d; want %v, %d", c.name, group, n, c.group, c.n)
		}
	}
}

// Match gives each advisory's other identifiers, aliases and upstream ids,
// for Distinct.
func TestMatchAliases(t *testing.T) {
	db, err := Load(testRoot(t), "/bundle", nil)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := db.Match("Debian:12", "zlib", "1:1.2.13.dfsg-1")
	if len(vs) != 1 || !reflect.DeepEqual(vs[0].Aliases, []string{"CVE-2024-0001"}) {
		t.Errorf("upstream ids = %+v", vs)
	}
	vs, _ = db.Match("Debian:12", "openssl", "3.0.9-1")
	if len(vs) != 1 || !reflect.DeepEqual(vs[0].Aliases, []string{"CVE-2023-5363", "CVE-2023-5678"}) {
		t.Errorf("aliases = %+v", vs)
	}
}

// TestCacheRefresh: the ways of refreshing a bundle that the README gives
// (an archive replaced by rename, a record written under a temporary name
// and renamed in, a symbolic link to the bundle switched to a new
// directory) make the next load read the new records; an unchanged bundle is
// not read again.
func TestCacheRefresh(t *testing.T) {
	const runc = "github.com/opencontainers/runc"
	record := func(id string) string {
		return `{"id":"` + id + `","affected":[{"package":{"ecosystem":"Go","name":"` + runc + `"},` +
			`"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.12"}]}]}]}`
	}
	zipOf := func(ids ...string) string {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, id := range ids {
			w, err := zw.Create(id + ".json")
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(record(id)))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	rename := func(from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	// Directory times have the kernel clock's granularity: let a tick pass
	// between the load before a change and the change.
	tick := func() { time.Sleep(20 * time.Millisecond) }
	dir := t.TempDir()
	write(t, dir, "v1/Go.zip", zipOf("GO-1"))
	link := filepath.Join(dir, "bundle")
	if err := os.Symlink("v1", link); err != nil {
		t.Fatal(err)
	}
	var c Cache
	want := Want{}.with("Go", runc)
	load := func() (*DB, string) {
		t.Helper()
		db, err := c.LoadBundle(link, want)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := db.Match("Go", runc, "v1.1.11")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		return db, strings.Join(ids, ",")
	}
	first, ids := load()
	if ids != "GO-1" {
		t.Fatalf("first load: %s", ids)
	}
	if again, _ := load(); again != first {
		t.Error("an unchanged bundle was read again")
	}
	tick()
	write(t, dir, "v1/.Go.zip.part", zipOf("GO-1", "GO-2"))
	rename(filepath.Join(dir, "v1/.Go.zip.part"), filepath.Join(dir, "v1/Go.zip"))
	if _, ids = load(); ids != "GO-1,GO-2" {
		t.Errorf("after the archive was replaced by rename: %s", ids)
	}
	tick()
	write(t, dir, "v1/.GO-3.json.part", record("GO-3"))
	rename(filepath.Join(dir, "v1/.GO-3.json.part"), filepath.Join(dir, "v1/GO-3.json"))
	if _, ids = load(); ids != "GO-1,GO-2,GO-3" {
		t.Errorf("after a record was renamed in: %s", ids)
	}
	tick()
	write(t, dir, "v2/GO-4.json", record("GO-4"))
	if err := os.Symlink("v2", link+".new"); err != nil {
		t.Fatal(err)
	}
	rename(link+".new", link)
	if _, ids = load(); ids != "GO-4" {
		t.Errorf("after the link was switched to a new directory: %s", ids)
	}
}
