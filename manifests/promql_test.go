package manifests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// documented are the agent's metrics as the issues define them, with their
// labels. A metric of a feature not in this build yet is checked against this
// list (and reported as pending); a metric the live agent exposes is checked
// against what it really exposes, and must agree with this list.
var documented = map[string][]string{
	"nodeguard_listening_port":              {"protocol", "address", "port", "process", "allowed", "severity"},
	"nodeguard_findings":                    {"probe", "condition", "severity", "status"},
	"nodeguard_probe_duration_seconds":      {"probe"},
	"nodeguard_probe_errors_total":          {"probe"},
	"nodeguard_last_scan_timestamp_seconds": nil,
	"nodeguard_scans_total":                 nil,
	"nodeguard_build_info":                  {"version", "goversion"},
	"nodeguard_packages_upgradable":         {"security"},
	"nodeguard_reboot_required":             nil,
	"nodeguard_package_lists_age_seconds":   nil,
	"nodeguard_vulnerabilities":             {"source", "severity"},
	"nodeguard_runtime_events_total":        {"rule", "severity"},
	"nodeguard_bpf_events_lost_total":       {"program"},
	"nodeguard_bpf_rule_active":             {"rule"},
	"nodeguard_kube_sync_errors_total":      {"reason"},
	// The process collector's, registered with the nodeguard namespace.
	"nodeguard_process_resident_memory_bytes": nil,
}

// external are series that do not come from the agent but that the rules
// and dashboard use on purpose.
var external = map[string][]string{
	"up":             nil,                                     // Prometheus, per target
	"ALERTS":         {"alertname", "alertstate", "severity"}, // Prometheus, per alert
	"kube_node_info": {"node"},                                // kube-state-metrics
}

// targetLabels are added by Prometheus to every scraped series: job and
// instance always, node by the ServiceMonitor's relabeling, the rest by
// prometheus-operator's Service discovery.
var targetLabels = []string{"job", "instance", "node", "namespace", "service", "endpoint", "pod", "container"}

// grafanaVars replaces Grafana's interval variables with what Grafana would
// put there; $node stays, it only appears inside regex strings.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1d")

type query struct{ where, expr string }

func allQueries(t *testing.T) []query {
	var qs []query
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"rule " + r.Alert, r.Expr})
		}
	}
	d := loadDashboard(t)
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("panel %q target %d", p.Title, i), grafanaVars.Replace(tg.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, v.Definition)
			continue
		}
		// label_values(sel, l) is the series sel, grouped by l.
		qs = append(qs, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs
}

// used is what an expression needs from the series it selects.
type used struct {
	metric string
	labels []string // label names in matchers and groupings
}

// inspect parses expr with Prometheus's parser and returns the metrics it
// selects and the labels it relies on for each. A grouping or vector
// matching label counts for every metric under it.
func inspect(expr string) ([]used, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []used
	selectorsUnder := func(n parser.Node) []int {
		var idx []int
		parser.Inspect(n, func(c parser.Node, _ []parser.Node) error {
			if _, ok := c.(*parser.VectorSelector); ok {
				for i := range out {
					if out[i].metric == selectorName(c.(*parser.VectorSelector)) {
						idx = append(idx, i)
					}
				}
			}
			return nil
		})
		return idx
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			u := used{metric: selectorName(vs)}
			for _, m := range vs.LabelMatchers {
				if m.Name != labels.MetricName {
					u.labels = append(u.labels, m.Name)
				}
			}
			out = append(out, u)
		}
		return nil
	})
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		var grouping []string
		var under []parser.Node
		switch x := n.(type) {
		case *parser.AggregateExpr:
			grouping, under = x.Grouping, []parser.Node{x.Expr}
		case *parser.BinaryExpr:
			if x.VectorMatching != nil {
				grouping, under = x.VectorMatching.MatchingLabels, []parser.Node{x.LHS, x.RHS}
			}
		}
		for _, side := range under {
			for _, i := range selectorsUnder(side) {
				out[i].labels = append(out[i].labels, grouping...)
			}
		}
		return nil
	})
	return out, nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// liveMetrics runs the real agent and returns its metric families with the
// label names their series carry (nil labels for a family with no series yet).
func liveMetrics(t *testing.T) map[string][]string {
	t.Helper()
	bin := agentBinary(t)
	// A listener of our own, so the ports metric has a series whatever the host runs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// An API server that refuses connections: the node-conditions feature runs
	// and counts its sync errors instead of being turned off.
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(unreachableKubeconfig, agentproc.FreePort(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty OSV bundle: the vulnerability checks are judged, so that
	// nodeguard_vulnerabilities has its series (zeros).
	bundle := filepath.Join(dir, "osv")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("packages:\n  osvBundle: "+bundle+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := agentproc.Start(t, bin, "--role", "worker", "--log-level", "error", "--policy", pol,
		"--kubeconfig", kubeconfig, "--node-name", "manifests-test-node")
	// Run a program from a writable directory, which the runtime rules
	// (eBPF, as root) count as an event.
	if os.Geteuid() == 0 {
		tr := filepath.Join(dir, "true")
		if data, err := os.ReadFile("/bin/true"); err == nil && os.WriteFile(tr, data, 0o755) == nil {
			_ = exec.Command(tr).Run()
		}
	}
	var body string
	for range 50 {
		var err error
		if body, err = a.Metrics(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "\nnodeguard_runtime_events_total{") && strings.Contains(body, "\nnodeguard_kube_sync_errors_total{") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the agent's /metrics: %v", err)
	}
	out := map[string][]string{}
	for name, f := range fams {
		var ls []string
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(ls, lp.GetName()) {
					ls = append(ls, lp.GetName())
				}
			}
		}
		out[name] = ls
	}
	return out
}

const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
  - name: closed
    cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}
users:
  - name: nobody
    user: {token: not-a-token}
contexts:
  - name: closed
    context: {cluster: closed, user: nobody}
current-context: closed
`

// Every PromQL expression of the rules and the dashboard parses with
// Prometheus's parser and selects only metrics (and labels) the agent
// really exposes, checked against a live agent's /metrics.
func TestQueriesUseRealMetrics(t *testing.T) {
	qs := allQueries(t)
	if len(qs) < 30 {
		t.Fatalf("only %d queries found; the walk over rules and panels is broken", len(qs))
	}
	live := liveMetrics(t)

	// The documented list must agree with what this build really exposes.
	for name, want := range documented {
		got, ok := live[name]
		if !ok || got == nil {
			continue
		}
		if !sameSet(got, want) {
			t.Errorf("live %s has labels %v, documented %v", name, got, want)
		}
	}

	pending := map[string]bool{}
	seen := map[string]bool{}
	for _, q := range qs {
		uses, err := inspect(q.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		if len(uses) == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
		for _, u := range uses {
			seen[u.metric] = true
			var have []string
			if ls, ok := external[u.metric]; ok {
				have = ls
			} else if ls, ok := live[u.metric]; ok && ls != nil {
				have = ls
			} else if ls, ok := documented[u.metric]; ok {
				have = ls
				if _, ok := live[u.metric]; !ok {
					pending[u.metric] = true
				}
			} else {
				t.Errorf("%s: metric %q is neither exposed by the agent nor documented", q.where, u.metric)
				continue
			}
			for _, l := range u.labels {
				if !slices.Contains(have, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("%s: %s has no label %q (it has %v and the target labels)", q.where, u.metric, l, have)
				}
			}
		}
	}
	var names []string
	for n := range pending {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 0 {
		t.Logf("checked against the documented names only, not exposed by this build yet: %s", strings.Join(names, ", "))
	}

	// docs/operations.md explains every metric the rules and dashboard use.
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for m := range seen {
		if _, ext := external[m]; ext {
			continue
		}
		if !strings.Contains(string(ops), "`"+m+"`") {
			t.Errorf("docs/operations.md does not explain `%s`", m)
		}
	}
}

// The checker must catch what it claims to catch.
func TestInspectFindsMetricsAndLabels(t *testing.T) {
	uses, err := inspect(`sum by (node, probe) (rate(nodeguard_probe_errors_total{probe="ports"}[5m])) / on (node) group_left max by (node) (up)`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		l := slices.Clone(u.labels)
		slices.Sort(l)
		got = append(got, u.metric+":"+strings.Join(slices.Compact(l), ","))
	}
	slices.Sort(got)
	want := []string{"nodeguard_probe_errors_total:node,probe", "up:node"}
	if !slices.Equal(got, want) {
		t.Errorf("inspect: got %v, want %v", got, want)
	}
	if _, err := inspect(`sum by (node (nodeguard_findings)`); err == nil {
		t.Error("a broken expression parsed")
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
