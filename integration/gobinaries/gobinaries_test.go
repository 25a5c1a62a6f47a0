// Package gobinaries checks the binaries probe on real Go binaries built
// from the module proxy (build.sh, cached under ~/.cache/nodeguard) against
// govulncheck in binary mode, reading the same OSV records.
package gobinaries

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/binaries"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/packages/osv"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// recordDirs hold the OSV records both tools read: the public facts of
// the advisories (ids, aliases, affected modules and ranges, fixed versions).
var recordDirs = []string{"../../probes/binaries/testdata/node/var/lib/nodeguard/osv", "testdata/osv"}

// pair is one (binary, advisory) verdict.
type pair struct{ binary, advisory string }

func TestAgainstGovulncheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds runc and govulncheck from the module proxy on first run")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	out, err := exec.Command("./build.sh").Output()
	if err != nil {
		t.Fatalf("build.sh: %v (%s)", err, stderr(err))
	}
	cache := strings.TrimSpace(string(out))
	bins := map[string]string{ // name on the test host → built binary
		"runc-v1.1.11": filepath.Join(cache, "runc-v1.1.11/runc"),
		"runc-v1.1.12": filepath.Join(cache, "runc-v1.1.12/runc"),
		"govulncheck":  filepath.Join(cache, "govulncheck-v1.10.0/govulncheck"),
	}

	host := t.TempDir()
	for name, src := range bins {
		dst := filepath.Join(host, "usr/local/sbin", name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(src, dst); err != nil {
			copyFile(t, src, dst)
		}
	}
	recs := records(t)
	// A stdlib advisory fixed just after this toolchain: each binary built
	// here has it, so the standard library's matching is exercised too.
	recs = append(recs, stdlibRecord(t))
	for _, r := range recs {
		writeJSON(t, filepath.Join(host, "osv", r.ID+".json"), r.raw)
	}

	pol, err := policy.Parse([]byte("packages:\n  osvBundle: "+filepath.Join(host, "osv")+"\nbinaries:\n  directories: [/usr/local/sbin]\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	env := probetest.Env(t, host, "worker")
	env.Policy = pol
	got := map[pair]bool{}
	for _, f := range (&binaries.Probe{}).Run(context.Background(), env) {
		switch f.Status {
		case finding.Fail:
			for _, id := range strings.Split(f.Evidence.Get("advisories"), ",") {
				got[pair{filepath.Base(f.Evidence.Get("binary")), id}] = true
			}
		case finding.Error:
			t.Errorf("error finding: %s", f.Message)
		}
	}

	db := govulnDB(t, recs)
	want := map[pair]bool{}
	for name := range bins {
		for _, id := range govulncheck(t, filepath.Join(cache, "govulncheck-v1.10.0/govulncheck"), db, filepath.Join(host, "usr/local/sbin", name)) {
			want[pair{name, id}] = true
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("nodeguard reports %s in %s; govulncheck does not", p.advisory, p.binary)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("govulncheck reports %s in %s; nodeguard does not", p.advisory, p.binary)
		}
	}
	// The comparison is only worth something if the known answer is in it.
	if !got[pair{"runc-v1.1.11", "GO-2024-2491"}] || got[pair{"runc-v1.1.12", "GO-2024-2491"}] {
		t.Errorf("CVE-2024-21626: want runc v1.1.11 affected and v1.1.12 not; got %v", sorted(got))
	}
	t.Logf("%d (binary, advisory) pairs agree: %v", len(got), sorted(got))
}

// record is an OSV record as both tools read it.
type record struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []osv.Event `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
	raw []byte
}

func records(t *testing.T) []record {
	var out []record
	for _, dir := range recordDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r record
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			r.raw = data
			out = append(out, r)
		}
	}
	if len(out) < 3 {
		t.Fatalf("only %d records in %v", len(out), recordDirs)
	}
	return out
}

func stdlibRecord(t *testing.T) record {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		t.Skipf("toolchain %s is not a release", runtime.Version())
	}
	var patch int
	fmt.Sscan(parts[2], &patch)
	fixed := fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch+1)
	raw := fmt.Sprintf(`{"schema_version":"1.3.1","id":"GO-9999-0001","modified":"2025-01-01T00:00:00Z","aliases":["CVE-9999-0001"],
"summary":"synthetic: fixed in the release after this toolchain",
"affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`, fixed)
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	r.raw = []byte(raw)
	return r
}

// govulnDB lays the records out as govulncheck's -db file:// reads them:
// index/db.json, index/modules.json, index/vulns.json and ID/<id>.json.
func govulnDB(t *testing.T, recs []record) string {
	dir := t.TempDir()
	type modVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	type vulnEntry struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
	mods := map[string][]modVuln{}
	var vulns []vulnEntry
	latest := time.Time{}
	for _, r := range recs {
		writeJSON(t, filepath.Join(dir, "ID", r.ID+".json"), r.raw)
		vulns = append(vulns, vulnEntry{r.ID, r.Modified, r.Aliases})
		if r.Modified.After(latest) {
			latest = r.Modified
		}
		for _, a := range r.Affected {
			fixed := ""
			for _, rg := range a.Ranges {
				for _, e := range rg.Events {
					if e.Fixed != "" {
						fixed = e.Fixed
					}
				}
			}
			mods[a.Package.Name] = append(mods[a.Package.Name], modVuln{r.ID, r.Modified, fixed})
		}
	}
	type modEntry struct {
		Path  string    `json:"path"`
		Vulns []modVuln `json:"vulns"`
	}
	var index []modEntry
	for p, vs := range mods {
		index = append(index, modEntry{p, vs})
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	writeJSON(t, filepath.Join(dir, "index/modules.json"), mustJSON(t, index))
	writeJSON(t, filepath.Join(dir, "index/vulns.json"), mustJSON(t, vulns))
	writeJSON(t, filepath.Join(dir, "index/db.json"), mustJSON(t, map[string]time.Time{"modified": latest}))
	return dir
}

// govulncheck lists the advisories it finds in a binary, module by module.
func govulncheck(t *testing.T, tool, db, bin string) []string {
	cmd := exec.Command(tool, "-mode=binary", "-scan=module", "-format=json", "-db=file://"+db, bin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v (%s)", cmd, err, stderr(err))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := map[string]bool{}
	for {
		var msg struct {
			Finding *struct {
				OSV string `json:"osv"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("govulncheck output: %v", err)
		}
		if msg.Finding != nil {
			seen[msg.Finding.OSV] = true
		}
	}
	var ids []string
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sorted(m map[pair]bool) []string {
	var out []string
	for p := range m {
		out = append(out, p.binary+":"+p.advisory)
	}
	sort.Strings(out)
	return out
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

func mustJSON(t *testing.T, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeJSON(t *testing.T, p string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(bufio.NewWriter(out), in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
