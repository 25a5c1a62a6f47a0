package all

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
)

// goldenStatuses reads the committed goldens (TestFindingsGolden keeps them
// true): for every id, the statuses some fixture host gives it.
func goldenStatuses(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.golden"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens in %s: %v", goldenDir, err)
	}
	out := map[string]map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 4 {
				t.Fatalf("%s: malformed line %q", f, line)
			}
			if out[fields[1]] == nil {
				out[fields[1]] = map[string]bool{}
			}
			out[fields[1]][fields[2]] = true
		}
	}
	return out
}

// TestEveryIDIsCatalogued: a check nobody described feeds no condition and
// is missing from the README, so it must not ship.
func TestEveryIDIsCatalogued(t *testing.T) {
	for id := range goldenStatuses(t) {
		if _, ok := catalog.Lookup(id); !ok {
			t.Errorf("%s is emitted on a fixture host but has no catalogue entry", id)
		}
	}
}

// TestCatalogueEntries checks what each entry must say.
func TestCatalogueEntries(t *testing.T) {
	runbook, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			anchors[strings.ToLower(strings.ReplaceAll(strings.TrimSpace(h), " ", "-"))] = true
		}
	}
	entries := catalog.All()
	if len(entries) < 100 {
		t.Fatalf("only %d catalogue entries", len(entries))
	}
	for _, e := range entries {
		switch {
		case e.Condition == "" && e.Exempt == "":
			t.Errorf("%s feeds no node condition and says no reason why (Exempt)", e.ID)
		case e.Condition != "" && e.Exempt != "":
			t.Errorf("%s has both a condition and an exemption", e.ID)
		case e.Condition != "" && !slices.Contains(catalog.Conditions, e.Condition):
			t.Errorf("%s names unknown condition %q (known: %v)", e.ID, e.Condition, catalog.Conditions)
		}
		if !slices.Contains(probes.Names(), e.Probe) || !strings.HasPrefix(e.ID, e.Probe+".") {
			t.Errorf("%s: probe %q is not registered or not the id's prefix", e.ID, e.Probe)
		}
		if e.Title == "" || e.Severity.Rank() < 0 {
			t.Errorf("%s: title %q, severity %q", e.ID, e.Title, e.Severity)
		}
		if e.Kind == catalog.Check && e.Remediation == "" {
			t.Errorf("%s: a check that can fail needs a remediation", e.ID)
		}
		if !anchors[e.Runbook] {
			t.Errorf("%s: runbook anchor %q is no section of docs/runbook.md", e.ID, e.Runbook)
		}
	}
}

// fixtureDebt are entries still short of a fixture state, each with the
// reason no fixture tree can show it. It may only shrink. A tree declares the
// modes and owners its files need in its .modes file (probetest.ModesFile),
// and policies it is also judged by in .golden/<variant>.policy.yaml.
var fixtureDebt = map[string]string{}

// TestEveryEntryHasFixtures: each check passes on some fixture host and
// fails on another (an input check: reads on one, errors on another; a
// notice: shows up), so its judgement is pinned by a golden.
func TestEveryEntryHasFixtures(t *testing.T) {
	seen := goldenStatuses(t)
	var missing []string
	for _, e := range catalog.All() {
		got := map[string]bool{}
		for id, sts := range seen {
			if e.Matches(id) {
				for s := range sts {
					got[s] = true
				}
			}
		}
		var need []string
		switch e.Kind {
		case catalog.Check:
			need = []string{"pass", "fail"}
		case catalog.Input:
			// A readable input usually yields no finding of its own.
			need = []string{"error"}
		case catalog.Notice:
			need = []string{"skip"}
		}
		var lack []string
		for _, s := range need {
			if !got[s] {
				lack = append(lack, s)
			}
		}
		why, allowed := fixtureDebt[e.ID]
		if allowed {
			if why == "" {
				t.Errorf("%s is in fixtureDebt without a reason why no fixture can show it", e.ID)
			}
		}
		switch {
		case len(lack) > 0 && !allowed:
			missing = append(missing, e.ID+" (no "+strings.Join(lack, ", no ")+")")
		case len(lack) == 0 && allowed:
			t.Errorf("%s has its fixtures now: drop it from fixtureDebt", e.ID)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no fixture host shows %s", m)
	}
	t.Logf("%d entries, %d allowed to lack a fixture state", len(catalog.All()), len(fixtureDebt))
}

// TestReadmeConditionTable: the README's condition table names, for each
// condition, the probes whose catalogued checks feed it.
func TestReadmeConditionTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range catalog.Conditions {
		ps := catalog.Probes(cond)
		if len(ps) == 0 {
			continue
		}
		row := "| `" + cond + "` | `" + strings.Join(ps, "`, `") + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the row\n%s", row)
		}
	}
}
