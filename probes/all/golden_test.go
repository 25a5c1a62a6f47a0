package all

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
	"github.com/nodeguard/nodeguard/probes/release"
)

var update = flag.Bool("update", false, "rewrite the findings goldens in testdata/golden")

const goldenDir = "testdata/golden"

// hostDirs are the top-level directories that make a testdata/<name> tree a
// host root rather than fuzz corpora, advisory bundles or generators.
var hostDirs = []string{"etc", "lib", "proc", "run", "usr", "var"}

// fixtureHost is one fixture host tree, named <probe>/<host> after where it lives.
type fixtureHost struct{ name, dir string }

// path is the tree's path from the repository's root, which messages name
// instead of the temporary copy's.
func (h fixtureHost) path() string {
	return "probes/" + strings.TrimPrefix(filepath.ToSlash(h.dir), "../")
}

// fixtureHosts finds every host tree under probes/*/testdata.
func fixtureHosts(t testing.TB) []fixtureHost {
	t.Helper()
	dirs, err := filepath.Glob("../*/testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureHost
	for _, d := range dirs {
		for _, top := range hostDirs {
			if fi, err := os.Stat(filepath.Join(d, top)); err == nil && fi.IsDir() {
				rel, _ := filepath.Rel("..", d)
				out = append(out, fixtureHost{name: strings.Replace(filepath.ToSlash(rel), "/testdata/", "/", 1), dir: d})
				break
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d fixture host trees", len(out))
	}
	return out
}

var tableDay, _ = time.Parse(time.DateOnly, release.TableDate)

// listsAge is the one message part that depends on the clock.
var listsAge = regexp.MustCompile(`package lists updated [0-9hms.]+ ago`)

// findingLines runs every registered probe over a copy of the host tree (so
// file modes are 0644/0755 unless the tree's .modes file says otherwise, and
// mtimes are now, whatever the checkout did)
// and returns one sorted line per finding, with the copy's path replaced by
// the fixture's.
func findingLines(t testing.TB, h fixtureHost, r probes.Role, pol *policy.Policy) []string {
	t.Helper()
	dir := probetest.CopyTree(t, h.dir)
	env := probetest.Env(t, dir, r)
	// Release currency is judged as of the release table's own date, so
	// the goldens move only when the table does.
	env.Now = func() time.Time { return tableDay }
	if pol != nil {
		env.Policy = pol
	}
	abs, err := filepath.Abs(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := probes.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range ps {
		for _, f := range p.Run(context.Background(), env) {
			for i := 1; i < len(f.Evidence); i++ {
				if a, b := f.Evidence[i-1].Key, f.Evidence[i].Key; a >= b {
					t.Errorf("%s: evidence key %q comes before %q: keys go in order, once each", f.ID, a, b)
				}
			}
			msg := strings.ReplaceAll(strings.ReplaceAll(f.Message, dir, h.path()), abs, h.path())
			msg = listsAge.ReplaceAllString(msg, "package lists updated <age> ago")
			msg = strings.ReplaceAll(msg, "\n", `\n`)
			lines = append(lines, fmt.Sprintf("%s %s %s %s %s", f.Probe, f.ID, f.Status, f.Severity, msg))
		}
	}
	sort.Strings(lines)
	return lines
}

// goldenRun is one golden file: a host judged in one role, by the built-in
// policy or by one of the tree's policy variants.
type goldenRun struct {
	host    fixtureHost
	role    probes.Role
	variant string         // "" for the built-in policy
	pol     *policy.Policy // nil for the built-in policy
}

func (g goldenRun) file() string {
	name := strings.ReplaceAll(g.host.name, "/", "-")
	if g.variant != "" {
		name += "+" + g.variant
	}
	return filepath.Join(goldenDir, name+"."+string(g.role)+".golden")
}

// policyVariants reads a tree's .golden/<variant>.policy.yaml files: checks
// that only a non-default policy can make pass or fail (a bundle to match,
// a stricter requirement) get their fixture this way. ${TREE} in a file is
// the tree's own directory.
func policyVariants(t testing.TB, h fixtureHost) map[string]*policy.Policy {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.dir, ".golden", "*.policy.yaml"))
	out := map[string]*policy.Policy{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(h.dir)
		if err != nil {
			t.Fatal(err)
		}
		pol, err := policy.Parse([]byte(strings.ReplaceAll(string(b), "${TREE}", abs)), f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".policy.yaml")] = pol
	}
	return out
}

// goldenRuns judges every host as a worker and, where the agent would take
// it for a control plane, as control-plane too.
func goldenRuns(t testing.TB) []goldenRun {
	var out []goldenRun
	for _, h := range fixtureHosts(t) {
		roles := []probes.Role{probes.Worker}
		root := probetest.Env(t, h.dir, probes.Worker).Root
		if r, _ := role.Detect(root); r == probes.ControlPlane {
			roles = append(roles, probes.ControlPlane)
		}
		variants := policyVariants(t, h)
		names := make([]string, 0, len(variants))
		for n := range variants {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, r := range roles {
			out = append(out, goldenRun{host: h, role: r})
			for _, n := range names {
				out = append(out, goldenRun{host: h, role: r, variant: n, pol: variants[n]})
			}
		}
	}
	return out
}

// requireRoot: ownership checks say root:root only when root owns the copies.
func requireRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("the fixture copies must be owned by root, as a host's files are")
	}
}

// TestFindingsGolden is the end-to-end view of every probe on every fixture
// host: a change to any check shows up here as a reviewable line diff.
// Run with -update to rewrite the files.
func TestFindingsGolden(t *testing.T) {
	requireRoot(t)
	runs := goldenRuns(t)
	want := map[string]bool{}
	for _, g := range runs {
		want[filepath.Base(g.file())] = true
		t.Run(strings.TrimSuffix(filepath.Base(g.file()), ".golden"), func(t *testing.T) {
			got := strings.Join(findingLines(t, g.host, g.role, g.pol), "\n") + "\n"
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(g.file(), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			old, err := os.ReadFile(g.file())
			if err != nil {
				t.Fatalf("%v (run go test ./probes/all -run TestFindingsGolden -update)", err)
			}
			if d := lineDiff(string(old), got); d != "" {
				t.Errorf("%s differs (-golden +now; rerun with -update if intended):\n%s", g.file(), d)
			}
		})
	}
	// A fixture that disappeared must take its golden with it.
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.golden"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			if *update {
				os.Remove(f)
				continue
			}
			t.Errorf("%s belongs to no fixture host", f)
		}
	}
}

// lineDiff lists the lines only in a (-) and only in b (+); both are sorted
// line sets, so this is the whole difference.
func lineDiff(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out []string
	for l, n := range ca {
		for i := cb[l]; i < n; i++ {
			out = append(out, "- "+l)
		}
	}
	for l, n := range cb {
		for i := ca[l]; i < n; i++ {
			out = append(out, "+ "+l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][2:] < out[j][2:] || (out[i][2:] == out[j][2:] && out[i] < out[j]) })
	return strings.Join(out, "\n")
}
