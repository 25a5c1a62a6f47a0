package all

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/catalog"
)

// The README's check table and the runbook's index of checks are made from
// the catalogue: they sit between these markers and -update rewrites them.
const (
	generatedBegin = "<!-- generated from the check catalogue by probes/all (go test ./probes/all -update); do not edit -->\n"
	generatedEnd   = "<!-- end of generated text -->\n"
)

// checkTable is the README's table of every check.
func checkTable() string {
	var b strings.Builder
	b.WriteString("| check | probe | title | severity | node condition | runbook |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, e := range catalog.All() {
		id := "`" + e.ID + "`"
		if e.Pattern() {
			id = "`" + strings.TrimSuffix(e.ID, "*") + "<key>`"
		}
		cond := "`" + e.Condition + "`"
		if e.Condition == "" {
			cond = "none: " + e.Exempt
		}
		sev := string(e.Severity)
		if e.Kind != catalog.Check {
			sev = string(e.Kind)
		}
		runbook := ""
		if e.Runbook != "" {
			runbook = "[" + e.Runbook + "](docs/runbook.md#" + e.Runbook + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", id, e.Probe, cellText(e.Title), sev, cond, runbook)
	}
	return b.String()
}

// runbookIndex lists, per runbook section, the checks whose failures it
// covers.
func runbookIndex() string {
	bySection := map[string][]string{}
	var sections []string
	for _, e := range catalog.All() {
		if e.Runbook == "" {
			continue
		}
		if _, ok := bySection[e.Runbook]; !ok {
			sections = append(sections, e.Runbook)
		}
		bySection[e.Runbook] = append(bySection[e.Runbook], "`"+e.ID+"`")
	}
	slices.Sort(sections)
	var b strings.Builder
	b.WriteString("| section | checks |\n| --- | --- |\n")
	for _, s := range sections {
		fmt.Fprintf(&b, "| [%s](#%s) | %s |\n", s, s, strings.Join(bySection[s], ", "))
	}
	return b.String()
}

func cellText(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// checkGenerated compares (or with -update rewrites) the generated block of
// file with want.
func checkGenerated(t *testing.T, file, want string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, generatedBegin)
	j := strings.Index(s, generatedEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated block (%q ... %q)", file, strings.TrimSpace(generatedBegin), strings.TrimSpace(generatedEnd))
	}
	got := s[i+len(generatedBegin) : j]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(file, []byte(s[:i+len(generatedBegin)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the generated block differs from the catalogue; run go test ./probes/all -update\n%s", file, lineDiff(got, want))
}

func TestReadmeCheckTable(t *testing.T) { checkGenerated(t, "../../README.md", checkTable()) }

func TestRunbookIndex(t *testing.T) { checkGenerated(t, "../../docs/runbook.md", runbookIndex()) }
