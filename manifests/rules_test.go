package manifests

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := Files.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseRules parses the plain rules file the way Prometheus does (strict
// fields, every expression and template checked).
func parseRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(readFile(t, RulesFile), false, model.UTF8Validation,
		parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", RulesFile, errs)
	}
	return groups
}

func TestPrometheusRuleIsGenerated(t *testing.T) {
	if got, want := readFile(t, PrometheusRuleFile), PrometheusRule(readFile(t, RulesFile)); !bytes.Equal(got, want) {
		t.Fatalf("%s is not generated from %s: run `go generate ./manifests`", PrometheusRuleFile, RulesFile)
	}
	// And it means the same to prometheus-operator as the file to Prometheus.
	var pr monitoringv1.PrometheusRule
	if _, _, err := strictDecoder(t).Decode(readFile(t, PrometheusRuleFile), nil, &pr); err != nil {
		t.Fatal(err)
	}
	plain := parseRules(t)
	if len(pr.Spec.Groups) != len(plain.Groups) {
		t.Fatalf("%d groups in the PrometheusRule, %d in the rules file", len(pr.Spec.Groups), len(plain.Groups))
	}
	for i, g := range plain.Groups {
		pg := pr.Spec.Groups[i]
		if pg.Name != g.Name || len(pg.Rules) != len(g.Rules) {
			t.Fatalf("group %d: %q with %d rules vs %q with %d", i, pg.Name, len(pg.Rules), g.Name, len(g.Rules))
		}
		for j, r := range g.Rules {
			pr := pg.Rules[j]
			var pfor string
			if pr.For != nil {
				pfor = string(*pr.For)
			}
			if pr.Alert != r.Alert || pr.Expr.String() != r.Expr || !sameDuration(t, pfor, r.For) ||
				!mapsEqual(pr.Labels, r.Labels) || !mapsEqual(pr.Annotations, r.Annotations) {
				t.Errorf("rule %s differs between the PrometheusRule and the rules file", r.Alert)
			}
		}
	}
}

func sameDuration(t *testing.T, s string, d model.Duration) bool {
	t.Helper()
	if s == "" {
		return d == 0
	}
	pd, err := model.ParseDuration(s)
	if err != nil {
		t.Errorf("for %q: %v", s, err)
	}
	return pd == d
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The rules and their unit tests through Prometheus's own promtool.
func TestPromtool(t *testing.T) {
	promtool := lookPath(t, "promtool", "Debian package prometheus")
	for _, args := range [][]string{
		{"check", "rules", RulesFile},
		append([]string{"test", "rules"}, RulesTestFiles...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// lookPath finds a tool the test needs; without it the test skips, except
// in CI where the tool must be installed.
func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (install %s): %v", name, pkg, err)
	}
	t.Skipf("%s not found (install %s)", name, pkg)
	return ""
}

type promtoolTests struct {
	RuleFiles          []string       `json:"rule_files"`
	EvaluationInterval string         `json:"evaluation_interval"`
	Tests              []promtoolCase `json:"tests"`
}

type promtoolCase struct {
	Name        string `json:"name"`
	Interval    string `json:"interval"`
	InputSeries []struct {
		Series string `json:"series"`
		Values string `json:"values"`
	} `json:"input_series"`
	AlertRuleTest []struct {
		EvalTime  string `json:"eval_time"`
		Alertname string `json:"alertname"`
		ExpAlerts []struct {
			ExpLabels      map[string]string `json:"exp_labels"`
			ExpAnnotations map[string]string `json:"exp_annotations"`
		} `json:"exp_alerts"`
	} `json:"alert_rule_test"`
}

// Every alert is tested both firing and not firing, and has a runbook
// section that its runbook_url points at.
func TestEveryAlertIsTestedAndHasARunbook(t *testing.T) {
	var cases []promtoolCase
	for _, f := range RulesTestFiles {
		var tests promtoolTests
		if err := yaml.UnmarshalStrict(readFile(t, f), &tests); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(tests.RuleFiles, []string{"nodeguard.rules.yaml"}) {
			t.Errorf("%s tests %v, not the shipped rules file", f, tests.RuleFiles)
		}
		cases = append(cases, tests.Tests...)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range cases {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^### (\w+)\s*$`).FindAllStringSubmatch(string(runbook), -1) {
		headings[m[1]] = true
	}
	names := map[string]bool{}
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if names[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			names[r.Alert] = true
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: promtool tests where it fires: %v, where it must not: %v; want both",
					r.Alert, fires[r.Alert], silent[r.Alert])
			}
			if !headings[r.Alert] {
				t.Errorf("alert %s has no '### %s' section in docs/runbook.md", r.Alert, r.Alert)
			}
			if want := "https://github.com/nodeguard/nodeguard/blob/main/docs/runbook.md#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			for _, k := range []string{"summary", "description"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s", r.Alert, k)
				}
			}
			if sev := r.Labels["severity"]; sev == "" {
				t.Errorf("alert %s has no severity label", r.Alert)
			}
		}
	}
	for name := range fires {
		if !names[name] {
			t.Errorf("promtool tests name alert %s, which no rule defines", name)
		}
	}
	if !names["NodeguardUnexpectedOpenPort"] {
		t.Fatal("the page on unexpected open ports is missing")
	}
}

// The page on open ports fires at the first evaluation and carries what the
// on-call engineer needs.
func TestOpenPortPageIsImmediate(t *testing.T) {
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert != "NodeguardUnexpectedOpenPort" {
				continue
			}
			if r.For != 0 || r.Labels["severity"] != "critical" {
				t.Errorf("for %s, severity %q: want an immediate critical page", time.Duration(r.For), r.Labels["severity"])
			}
			for _, l := range []string{"node", "port", "address", "process"} {
				if !strings.Contains(r.Annotations["description"], "$labels."+l) {
					t.Errorf("description does not name the %s", l)
				}
			}
			return
		}
	}
	t.Fatal("NodeguardUnexpectedOpenPort not found")
}

// dashboard is the part of Grafana's JSON model the tests look at.
type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(readFile(t, DashboardFile)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", DashboardFile, err)
	}
	return &d
}

func TestDashboardCoversTheIssue(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" {
		t.Error("dashboard has no uid: Grafana would make a new one on every load")
	}
	ids := map[int]bool{}
	var titles []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			titles = append(titles, p.Title)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, want := range []string{"Compliance overview", "Failing checks", "Open ports", "Security updates", "Known vulnerabilities", "Runtime events", "Agent health"} {
		if !slices.Contains(titles, want) {
			t.Errorf("dashboard has no %q row", want)
		}
	}
}
