package apk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

const fixture = "../testdata/alpine"

func scan(t *testing.T, dir string) *Result {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f, err := root.Open(Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inst, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return ScanUpdates(root, inst)
}

func lines(res *Result) string {
	var out []string
	for _, u := range res.Updates {
		out = append(out, u.Name+" "+u.Installed+" "+u.Candidate)
	}
	return strings.Join(out, ",")
}

func TestCacheIndexName(t *testing.T) {
	// The name apk-tools gives this repository's index (pmbootstrap's test
	// vector for the same rule).
	if got := CacheIndexName("https://nl.alpinelinux.org/alpine/edge/testing"); got != "APKINDEX.865a153c.tar.gz" {
		t.Errorf("got %s", got)
	}
}

func TestScanUpdates(t *testing.T) {
	res := scan(t, fixture)
	if len(res.Problems) > 0 || len(res.Repos) != 3 || len(res.Uncached) != 0 {
		t.Fatalf("problems %v repos %v uncached %v", res.Problems, res.Repos, res.Uncached)
	}
	// The tagged edge repository offers newer versions, but nothing is pinned to it.
	if got := lines(res); got != "busybox 1.36.1-r5 1.36.1-r7,musl 1.2.4-r2 1.2.4-r3" {
		t.Errorf("updates = %s", got)
	}
}

func copyFixture(t *testing.T) string {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", fixture+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dir
}

func TestTaggedRepository(t *testing.T) {
	dir := copyFixture(t)
	os.WriteFile(filepath.Join(dir, WorldPath), []byte("busybox@edge\nlinux-virt\nmusl\n"), 0o644)
	if got := lines(scan(t, dir)); got != "busybox 1.36.1-r5 1.37.0-r0,musl 1.2.4-r2 1.2.4-r3" {
		t.Errorf("updates = %s", got)
	}
}

func TestUnknownAndBad(t *testing.T) {
	dir := copyFixture(t)
	os.RemoveAll(filepath.Join(dir, CacheDir))
	if res := scan(t, dir); res.Known() || len(res.Uncached) != 3 {
		t.Errorf("no cache: known %v uncached %v", res.Known(), res.Uncached)
	}
	dir = copyFixture(t)
	main := filepath.Join(dir, CacheDir, CacheIndexName("https://dl-cdn.alpinelinux.org/alpine/v3.19/main"))
	data, _ := os.ReadFile(main)
	os.WriteFile(main, data[:len(data)-40], 0o644)
	res := scan(t, dir)
	if len(res.Problems) != 1 || res.Problems[0].File != "/var/cache/apk/"+filepath.Base(main) || len(res.Uncached) != 1 {
		t.Errorf("truncated index: problems %v uncached %v", res.Problems, res.Uncached)
	}
	os.WriteFile(filepath.Join(dir, RepositoriesPath), []byte("@edge\n"), 0o644)
	if res := scan(t, dir); len(res.Problems) != 1 || res.Problems[0].File != RepositoriesPath {
		t.Errorf("bad repositories: %v", res.Problems)
	}
}
