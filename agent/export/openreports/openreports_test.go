package openreports

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/nodeguard/nodeguard/agent/export/openreports/openreportstest"
	_ "github.com/nodeguard/nodeguard/probes/all" // the catalogue
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var node = Node{Name: "node-a", UID: "5b2c3a1e-0000-4000-8000-000000000001"}

func sample() *finding.Report {
	rep := &finding.Report{
		Node: "node-a", Role: "worker", ScannedAt: time.Date(2026, 12, 6, 10, 0, 0, 5, time.UTC),
		Findings: []finding.Finding{
			{ID: "sshd.permit-root-login", Probe: "sshd", Status: finding.Pass, Severity: finding.High,
				Title: "Root login over SSH", Message: "PermitRootLogin is no", Remediation: "Set PermitRootLogin no."},
			{ID: "ports.listener", Probe: "ports", Status: finding.Fail, Severity: finding.Medium,
				Title: "Unexpected listener", Message: "tcp 0.0.0.0:8080 (python3)",
				Remediation: "Close it.", Evidence: finding.EvidenceOf(map[string]string{"port": "8080", "process": "python3"})},
			{ID: "ports.listener", Probe: "ports", Status: finding.Fail, Severity: finding.Critical,
				Title: "etcd client port", Message: "tcp 0.0.0.0:2379 (etcd)"},
			{ID: "packages.pending", Probe: "packages", Status: finding.Error, Severity: finding.High,
				Title: "Package data", Message: "reading var/lib/dpkg/status: permission denied"},
			{ID: "kernel.modules", Probe: "kernel", Status: finding.Skip, Severity: finding.Info,
				Title: "Modules", Message: "not applicable"},
		},
	}
	rep.Finalize()
	return rep
}

func TestBuild(t *testing.T) {
	got, err := Build(sample(), node)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "nodeguard-node-a" || got.Kind != "ClusterReport" || got.APIVersion != "openreports.io/v1alpha1" {
		t.Errorf("identity %s %s %s", got.APIVersion, got.Kind, got.Name)
	}
	if got.Source != Source || got.Labels[LabelManagedBy] != Source || got.Annotations[AnnotationRole] != "worker" {
		t.Errorf("source %q labels %v annotations %v", got.Source, got.Labels, got.Annotations)
	}
	if s := got.Scope; s == nil || s.Kind != "Node" || s.Name != "node-a" || s.UID != node.UID {
		t.Errorf("scope %+v", got.Scope)
	}
	if o := got.OwnerReferences; len(o) != 1 || o[0].Kind != "Node" || o[0].APIVersion != "v1" || o[0].Name != "node-a" ||
		o[0].UID != node.UID || o[0].BlockOwnerDeletion != nil || o[0].Controller != nil {
		t.Errorf("owner references %+v", got.OwnerReferences)
	}
	if want := (v1alpha1.ReportSummary{Pass: 1, Fail: 2, Error: 1, Skip: 1}); got.Summary != want {
		t.Errorf("summary %+v, want %+v", got.Summary, want)
	}
	if got.Configuration == nil || got.Configuration.Limits.MaxResults != MaxResults {
		t.Errorf("configuration %+v", got.Configuration)
	}
	if _, ok := got.Annotations[AnnotationOmitted]; ok {
		t.Errorf("nothing omitted, yet %s is set", AnnotationOmitted)
	}
	var order []string
	for _, r := range got.Results {
		order = append(order, fmt.Sprintf("%s %s %s/%s", r.Result, r.Severity, r.Policy, r.Rule))
		if r.Timestamp.Seconds != sample().ScannedAt.Unix() || r.Timestamp.Nanos != 5 {
			t.Errorf("%s: timestamp %+v", r.Rule, r.Timestamp)
		}
	}
	want := []string{
		"fail critical ports/ports.listener",
		"fail medium ports/ports.listener",
		"error high packages/packages.pending",
		"skip info kernel/kernel.modules",
		"pass high sshd/sshd.permit-root-login",
	}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("results in order:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	r := got.Results[1]
	if pass := got.Results[4]; pass.Properties["remediation"] != "" || pass.Properties["title"] != "Root login over SSH" {
		t.Errorf("a passing result's properties %v: the title, no remediation", pass.Properties)
	}
	if r.Description != "tcp 0.0.0.0:8080 (python3)" || r.Category != "UnexpectedOpenPorts" || !r.Scored ||
		r.Properties["title"] != "Unexpected listener" || r.Properties["remediation"] != "Close it." ||
		r.Properties["port"] != "8080" || r.Properties["process"] != "python3" || len(r.Properties) != 4 {
		t.Errorf("result %+v", r)
	}
}

// TestHash: the hash follows what the report says, not when it was said.
func TestHash(t *testing.T) {
	hashOf := func(rep *finding.Report, n Node) string {
		t.Helper()
		got, err := Build(rep, n)
		if err != nil {
			t.Fatal(err)
		}
		h := got.Annotations[AnnotationHash]
		if len(h) != 32 {
			t.Fatalf("hash %q", h)
		}
		return h
	}
	base := hashOf(sample(), node)
	later := sample()
	later.ScannedAt = later.ScannedAt.Add(time.Hour)
	if hashOf(later, node) != base {
		t.Error("a later scan with the same findings changed the hash")
	}
	for name, change := range map[string]func(*finding.Report, *Node){
		"message": func(r *finding.Report, _ *Node) { r.Findings[0].Message += "!" },
		"status":  func(r *finding.Report, _ *Node) { r.Findings[0].Status = finding.Fail },
		"evidence": func(r *finding.Report, _ *Node) {
			r.Findings[1].Evidence = finding.EvidenceOf(map[string]string{"x": "y"})
		},
		"role":     func(r *finding.Report, _ *Node) { r.Role = "control-plane" },
		"node uid": func(_ *finding.Report, n *Node) { n.UID = "another" },
		"finding gone": func(r *finding.Report, _ *Node) {
			r.Findings = r.Findings[1:]
		},
	} {
		rep, n := sample(), node
		change(rep, &n)
		if hashOf(rep, n) == base {
			t.Errorf("%s changed, the hash did not", name)
		}
	}
}

// TestSizeBound: a node with 10,000 unexpected listeners gets a report the
// API server takes, failing results first and the rest counted.
func TestSizeBound(t *testing.T) {
	rep := openreportstest.Listeners("node-a", 10000)
	for i := range 50 {
		rep.Findings = append(rep.Findings, finding.Finding{ID: fmt.Sprintf("sysctl.k%d", i), Probe: "kernel", Status: finding.Pass, Severity: finding.Low})
	}
	rep.Finalize()
	got, err := Build(rep, node)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxBytes {
		t.Errorf("report is %d bytes, bound %d", len(b), MaxBytes)
	}
	if len(got.Results) == 0 || len(got.Results) > MaxResults {
		t.Fatalf("%d results", len(got.Results))
	}
	omitted, _ := strconv.Atoi(got.Annotations[AnnotationOmitted])
	if omitted+len(got.Results) != len(rep.Findings) {
		t.Errorf("%d results + %d omitted != %d findings", len(got.Results), omitted, len(rep.Findings))
	}
	s := got.Summary
	if s.Fail != 10000 || s.Pass != 50 {
		t.Errorf("summary %+v: it counts every finding, kept or not", s)
	}
	// The 1,000 high ones come first, and no pass made it in.
	for i, r := range got.Results {
		if r.Result != "fail" || (i < 1000) != (r.Severity == "high") {
			t.Fatalf("result %d: %s %s", i, r.Result, r.Severity)
		}
	}
	t.Logf("%d results, %d omitted, %d bytes", len(got.Results), omitted, len(b))
}

func TestPropertiesBound(t *testing.T) {
	f := finding.Finding{ID: "x", Probe: "p", Status: finding.Fail, Severity: finding.Low, Title: "T",
		Message: strings.Repeat("é", 2000), Evidence: finding.EvidenceOf(map[string]string{"title": "shadowed"})}
	for i := range 40 {
		f.Evidence.Set(fmt.Sprintf("k%02d", i), strings.Repeat("v", 1000))
	}
	r := result(&f)
	if len(r.Properties) != MaxProperties {
		t.Errorf("%d properties, want %d", len(r.Properties), MaxProperties)
	}
	if r.Properties["title"] != "T" {
		t.Errorf("title %q: the finding's title wins over evidence of that name", r.Properties["title"])
	}
	// title, then 14 evidence keys, then the count of the other 26 (40 less
	// 14; "title" of the evidence is shadowed, not dropped).
	if r.Properties[PropertyOmitted] != "26" {
		t.Errorf("%s = %q", PropertyOmitted, r.Properties[PropertyOmitted])
	}
	for k, v := range r.Properties {
		if len(v) > MaxPropertyLen {
			t.Errorf("%s is %d bytes", k, len(v))
		}
	}
	if len(r.Description) > MaxMessageLen || !strings.HasSuffix(r.Description, "…") || !utf8Valid(r.Description) {
		t.Errorf("description of %d bytes", len(r.Description))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

func TestName(t *testing.T) {
	if n, err := Name("ip-10-0-0-1.ec2.internal"); err != nil || n != "nodeguard-ip-10-0-0-1.ec2.internal" {
		t.Errorf("Name = %q, %v", n, err)
	}
	if _, err := Name(strings.Repeat("a", 250)); err == nil {
		t.Error("a 260-character report name was accepted")
	}
	if _, err := Build(sample(), Node{Name: strings.Repeat("a", 250)}); err == nil {
		t.Error("Build accepted a node whose report cannot be named")
	}
}
