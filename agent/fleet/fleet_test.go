package fleet

import (
	"bytes"
	"cmp"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var (
	scannedAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now       = scannedAt.Add(2 * time.Hour)
)

func check(id, probe string, status finding.Status, sev finding.Severity, msg string) finding.Finding {
	return finding.Finding{ID: id, Probe: probe, Status: status, Severity: sev, Title: "title of " + id, Message: msg}
}

// scan is a finished scan of the sshd and sysctl probes.
func scan(fs ...finding.Finding) *finding.Report {
	r := &finding.Report{Role: "worker", ScannedAt: scannedAt, Findings: fs,
		Probes: []finding.ProbeRun{{Name: "sshd"}, {Name: "sysctl"}}}
	r.Finalize()
	return r
}

func node(name string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}}
}

// withConditions gives n the conditions the agent derives from rep,
// heartbeat at hb.
func withConditions(n corev1.Node, rep *finding.Report, hb time.Time) corev1.Node {
	for _, ct := range kube.ConditionTypes {
		v, ok := kube.Verdicts(rep)[ct.Type]
		if !ok {
			continue
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
			Type: ct.Type, Status: v.Status, Reason: v.Reason, Message: v.Message,
			LastHeartbeatTime: metav1.NewTime(hb),
		})
	}
	return n
}

func report(t *testing.T, n corev1.Node, rep *finding.Report) v1alpha1.ClusterReport {
	t.Helper()
	r, err := openreports.Build(rep, openreports.Node{Name: n.Name, UID: n.UID})
	if err != nil {
		t.Fatal(err)
	}
	return *r
}

// fixture: a fails critical and low and errs; b passes; c has conditions
// only (high and medium failing, kernel unjudged); d has nothing; e has a
// report of an earlier Node of its name and conditions that pass.
func fixture(t *testing.T) Input {
	t.Helper()
	repA := scan(
		check("sshd.empty-passwords", "sshd", finding.Fail, finding.Critical, "PermitEmptyPasswords yes"),
		check("sshd.x11-forwarding", "sshd", finding.Fail, finding.Low, "X11Forwarding yes"),
		check("sshd.root-login", "sshd", finding.Pass, finding.High, ""),
		check("sysctl.kernel.kptr_restrict", "sysctl", finding.Error, finding.High, "cannot read"),
	)
	repB := scan(check("sshd.root-login", "sshd", finding.Pass, finding.High, ""))
	repC := scan(
		check("sshd.root-login", "sshd", finding.Fail, finding.High, "PermitRootLogin yes"),
		check("sshd.password-auth", "sshd", finding.Fail, finding.Medium, "PasswordAuthentication yes"),
		check("sysctl.kernel.kptr_restrict", "sysctl", finding.Error, finding.Medium, "cannot read"),
	)
	a, b, c, d, e := node("a"), node("b"), node("c"), node("d"), node("e")
	a = withConditions(a, repA, now.Add(-90*time.Second))
	c = withConditions(c, repC, now.Add(-10*time.Minute))
	e = withConditions(e, repB, now.Add(-3*24*time.Hour))
	old := e
	old.UID = "uid-of-an-earlier-e"
	// A report the agent did not write is ignored.
	foreign := report(t, node("d"), repA)
	foreign.Labels = map[string]string{openreports.LabelManagedBy: "someone-else"}
	return Input{
		Nodes:             []corev1.Node{e, d, c, b, a},
		Reports:           []v1alpha1.ClusterReport{report(t, a, repA), report(t, b, repB), report(t, old, repA), foreign},
		OpenReportsServed: true,
		FailOn:            finding.High,
		Now:               now,
	}
}

func TestSummarize(t *testing.T) {
	f := Summarize(fixture(t))
	type row struct {
		name              string
		source            Source
		failing, errors   int
		worst, worstError finding.Severity
	}
	var got []row
	for _, n := range f.Nodes {
		got = append(got, row{n.Name, n.Source, n.Failing, n.Errors, n.Worst, n.WorstError})
	}
	want := []row{
		{"a", FromReport, 2, 1, finding.Critical, finding.High},
		{"c", FromConditions, 2, 1, finding.High, finding.Medium},
		{"b", FromReport, 0, 0, "", ""},
		{"e", FromConditions, 0, 0, "", ""},
		{"d", FromNone, 0, 0, "", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodes:\n got %+v\nwant %+v", got, want)
	}
	if s := (Summary{Nodes: 5, FromReports: 2, FromConditions: 2, WithoutData: 1, FailingNodes: 2, ErroringNodes: 2}); f.Summary != s {
		t.Errorf("summary %+v, want %+v", f.Summary, s)
	}
	if !reflect.DeepEqual(f.AtOrAboveFailOn, []string{"a", "c"}) {
		t.Errorf("at or above high: %v", f.AtOrAboveFailOn)
	}

	a, c := f.Nodes[0], f.Nodes[1]
	if a.Role != "worker" || a.ReportChangedAt == nil || !a.ReportChangedAt.Equal(scannedAt) {
		t.Errorf("a: role %q, changed %v", a.Role, a.ReportChangedAt)
	}
	if a.LastHeartbeat == nil || !a.LastHeartbeat.Equal(now.Add(-90*time.Second)) {
		t.Errorf("a: heartbeat %v", a.LastHeartbeat)
	}
	wantA := []Problem{
		{Status: finding.Fail, Severity: finding.Critical, Check: "sshd.empty-passwords", Probe: "sshd", Checks: 1, Title: "title of sshd.empty-passwords", Message: "PermitEmptyPasswords yes"},
		{Status: finding.Fail, Severity: finding.Low, Check: "sshd.x11-forwarding", Probe: "sshd", Checks: 1, Title: "title of sshd.x11-forwarding", Message: "X11Forwarding yes"},
		{Status: finding.Error, Severity: finding.High, Check: "sysctl.kernel.kptr_restrict", Probe: "sysctl", Checks: 1, Title: "title of sysctl.kernel.kptr_restrict", Message: "cannot read"},
	}
	if !reflect.DeepEqual(a.Problems, wantA) {
		t.Errorf("a's problems:\n got %+v\nwant %+v", a.Problems, wantA)
	}
	if len(c.Problems) != 2 || c.Problems[0].Condition != string(kube.InsecureRemoteAccess) || c.Problems[0].Checks != 2 ||
		c.Problems[0].Severity != finding.High || c.Problems[1].Condition != string(kube.KernelHardeningViolation) ||
		c.Problems[1].Status != finding.Error || c.ReportChangedAt != nil || c.Role != "" {
		t.Errorf("c: %+v", c)
	}

	wantChecks := []Check{
		{ID: "sshd.empty-passwords", Probe: "sshd", Title: "title of sshd.empty-passwords", Severity: finding.Critical, FailingNodes: []string{"a"}, ErroringNodes: []string{}},
		{ID: "sshd.x11-forwarding", Probe: "sshd", Title: "title of sshd.x11-forwarding", Severity: finding.Low, FailingNodes: []string{"a"}, ErroringNodes: []string{}},
		{ID: "sysctl.kernel.kptr_restrict", Probe: "sysctl", Title: "title of sysctl.kernel.kptr_restrict", Severity: finding.High, FailingNodes: []string{}, ErroringNodes: []string{"a"}},
	}
	if !reflect.DeepEqual(f.Checks, wantChecks) {
		t.Errorf("checks:\n got %+v\nwant %+v", f.Checks, wantChecks)
	}
}

func TestFailOn(t *testing.T) {
	in := fixture(t)
	for _, tc := range []struct {
		failOn finding.Severity
		want   []string
	}{
		{finding.Critical, []string{"a"}},
		{finding.High, []string{"a", "c"}}, // c: a high failing check
		{finding.Medium, []string{"a", "c"}},
		{finding.Low, []string{"a", "c"}},
		{finding.Info, []string{"a", "c"}},
		{"", []string{}},
	} {
		in.FailOn = tc.failOn
		f := Summarize(in)
		if !reflect.DeepEqual(f.AtOrAboveFailOn, tc.want) {
			t.Errorf("--fail-on %q: %v, want %v", tc.failOn, f.AtOrAboveFailOn, tc.want)
		}
		if want := cmp.Or(string(tc.failOn), FailOnNone); f.FailOn != want {
			t.Errorf("failOn %q, want %q", f.FailOn, want)
		}
	}
}

// Without the CRD every node is judged from its conditions, and a node
// whose only condition is RuntimeAnomalyDetected has no verdict.
func TestWithoutReports(t *testing.T) {
	in := fixture(t)
	in.Reports, in.OpenReportsServed = nil, false
	runtimeOnly := node("f")
	runtimeOnly.Status.Conditions = []corev1.NodeCondition{{
		Type: kube.RuntimeAnomalyDetected, Status: corev1.ConditionTrue, Message: "high rule shell-in-container matched: sh",
	}}
	in.Nodes = append(in.Nodes, runtimeOnly)
	f := Summarize(in)
	got := map[string]Source{}
	for _, n := range f.Nodes {
		got[n.Name] = n.Source
	}
	want := map[string]Source{"a": FromConditions, "b": FromNone, "c": FromConditions, "d": FromNone, "e": FromConditions, "f": FromNone}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources %v, want %v", got, want)
	}
	if len(f.Checks) != 0 {
		t.Errorf("checks without reports: %+v", f.Checks)
	}
	// a's conditions: InsecureRemoteAccess True with the critical check first.
	if f.Nodes[0].Name != "a" || f.Nodes[0].Worst != finding.Critical {
		t.Errorf("first node %+v", f.Nodes[0])
	}
	for _, n := range f.Nodes {
		if n.Name == "f" && n.RuntimeAnomaly != "high rule shell-in-container matched: sh" {
			t.Errorf("f: runtime anomaly %q", n.RuntimeAnomaly)
		}
	}
}

// The report's summary counts the findings its size bound left out.
func TestOmittedResults(t *testing.T) {
	var fs []finding.Finding
	for i := range openreports.MaxResults + 5 {
		fs = append(fs, check("sysctl.key"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "sysctl", finding.Fail, finding.Low, "m"))
	}
	n := node("big")
	in := Input{Nodes: []corev1.Node{n}, Reports: []v1alpha1.ClusterReport{report(t, n, scan(fs...))}, Now: now}
	got := Summarize(in).Nodes[0]
	if got.Failing != openreports.MaxResults+5 || got.Omitted != 5 || len(got.Problems) != openreports.MaxResults {
		t.Errorf("failing %d, omitted %d, problems %d", got.Failing, got.Omitted, len(got.Problems))
	}
}

// An error finding the size bound left out (fails come first) still gates:
// its severity is unknown, so it counts as high, as nodeguard scan fails on it.
func TestOmittedErrorGates(t *testing.T) {
	var fs []finding.Finding
	for i := range openreports.MaxResults + 5 {
		fs = append(fs, check("sysctl.key"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "sysctl", finding.Fail, finding.Low, "m"))
	}
	fs = append(fs, check("sshd.config", "sshd", finding.Error, finding.High, "unreadable"))
	rep := scan(fs...)
	if !rep.FailingAtOrAbove(finding.High) {
		t.Fatal("the scan itself must fail at high")
	}
	n := node("big")
	in := Input{Nodes: []corev1.Node{n}, Reports: []v1alpha1.ClusterReport{report(t, n, rep)}, Now: now, FailOn: finding.High}
	f := Summarize(in)
	if got := f.Nodes[0]; got.Errors != 1 || got.WorstError != finding.High {
		t.Errorf("errors %d, worst error %q; want 1, high", got.Errors, got.WorstError)
	}
	if !reflect.DeepEqual(f.AtOrAboveFailOn, []string{"big"}) {
		t.Errorf("at or above high: %v, want [big]", f.AtOrAboveFailOn)
	}
}

func TestParseConditionMessage(t *testing.T) {
	for _, tc := range []struct {
		msg    string
		checks int
		sev    finding.Severity
	}{
		{"1 failing check: [medium] Password authentication over SSH: yes", 1, finding.Medium},
		{"12 failing checks: [critical] A: x; [high] B: y; [low] C (+9 more)", 12, finding.Critical},
		{"3 unjudged checks: [low] A: cannot read", 3, finding.Low},
		{"something else entirely", 1, finding.High},
		{"2 failing checks: no severity", 2, finding.High},
	} {
		checks, sev := ParseConditionMessage(tc.msg)
		if checks != tc.checks || sev != tc.sev {
			t.Errorf("%q: %d %s, want %d %s", tc.msg, checks, sev, tc.checks, tc.sev)
		}
	}
	// And the agent's own messages, as kube.Verdicts writes them.
	rep := scan(
		check("sshd.x11-forwarding", "sshd", finding.Fail, finding.Low, "X11Forwarding yes"),
		check("sshd.empty-passwords", "sshd", finding.Fail, finding.Critical, "[high] in a message"),
		check("sshd.root-login", "sshd", finding.Fail, finding.High, "PermitRootLogin yes"),
	)
	v := kube.Verdicts(rep)[kube.InsecureRemoteAccess]
	if checks, sev := ParseConditionMessage(v.Message); checks != 3 || sev != finding.Critical {
		t.Errorf("%q: %d %s", v.Message, checks, sev)
	}
}

// The JSON shape is a contract: every key present, lists never null.
func TestJSONShape(t *testing.T) {
	f := Summarize(Input{Nodes: []corev1.Node{node("d")}, Now: now})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, f); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"generatedAt": "2026-12-01T12:00:00Z", "failOn": "none", "openReportsServed": false,
		"summary": map[string]any{"nodes": 1.0, "fromReports": 0.0, "fromConditions": 0.0, "withoutData": 1.0,
			"failingNodes": 0.0, "erroringNodes": 0.0},
		"atOrAboveFailOn": []any{},
		"nodes": []any{map[string]any{
			"name": "d", "source": "none", "role": "", "failing": 0.0, "errors": 0.0, "worst": "", "worstError": "",
			"omitted": 0.0, "lastHeartbeat": nil, "reportChangedAt": nil, "runtimeAnomaly": "", "problems": []any{},
		}},
		"checks": []any{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON\n got %v\nwant %v", got, want)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, Summarize(fixture(t))); err != nil {
		t.Fatal(err)
	}
	want := `5 nodes: 2 from reports, 2 from node conditions, 1 without data; 2 at or above high

NODE  SOURCE      FAILING  WORST     ERRORS      SEEN  TOP
a     report      2        critical  1 (high)    1m    sshd.empty-passwords
c     conditions  2        high      1 (medium)  10m   InsecureRemoteAccess (2 checks)
b     report      0        -         0           -     -
e     conditions  0        -         0           3d    -
d     none        -        -         -           -     -

CHECK                        SEVERITY  FAILING  ERRORS  NODES
sshd.empty-passwords         critical  1        0       a
sshd.x11-forwarding          low       1        0       a
sysctl.kernel.kptr_restrict  high      0        1       a (error)
(the checks of the 2 nodes judged from conditions are counted by condition above, not listed here)
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 59 * time.Second: "59s", 90 * time.Second: "1m", 47 * time.Hour: "47h", 72 * time.Hour: "3d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %s, want %s", d, got, want)
		}
	}
}
