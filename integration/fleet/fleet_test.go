// Package fleet tests `nodeguard report` against a real API server: Nodes
// with ClusterReports, with only the agent's conditions, and with nothing,
// before and after the OpenReports CRDs are installed, read by a user with
// the ClusterRole nodeguard-report-reader and by one without it.
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/agent/cli"
	_ "github.com/nodeguard/nodeguard/agent/cli/agentcmd" // report is an agent command
	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/fleet"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
	"github.com/nodeguard/nodeguard/manifests"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var crdFiles = []string{
	"../../manifests/openreports/openreports.io_clusterreports.yaml",
	"../../manifests/openreports/openreports.io_reports.yaml",
}

func check(id, probe string, status finding.Status, sev finding.Severity) finding.Finding {
	return finding.Finding{ID: id, Probe: probe, Status: status, Severity: sev, Title: "title of " + id, Message: id + " says so"}
}

// scans are what the simulated agents found: worker-1 fails high and low
// and cannot judge a medium check, worker-2 fails low, worker-3 (which
// keeps only conditions, as with --reports=none) fails medium; worker-4
// has no agent.
var scans = map[string][]finding.Finding{
	"worker-1": {
		check("sshd.root-login", "sshd", finding.Fail, finding.High),
		check("sshd.x11-forwarding", "sshd", finding.Fail, finding.Low),
		check("sysctl.kernel.kptr_restrict", "sysctl", finding.Error, finding.Medium),
		check("sshd.password-auth", "sshd", finding.Pass, finding.Medium),
	},
	"worker-2": {
		check("sshd.x11-forwarding", "sshd", finding.Fail, finding.Low),
		check("sshd.root-login", "sshd", finding.Pass, finding.High),
		check("sysctl.kernel.kptr_restrict", "sysctl", finding.Pass, finding.Medium),
	},
	"worker-3": {
		check("sshd.password-auth", "sshd", finding.Fail, finding.Medium),
		check("sysctl.kernel.kptr_restrict", "sysctl", finding.Pass, finding.Medium),
	},
}

func scanOf(node string) *finding.Report {
	r := &finding.Report{Node: node, Role: "worker", ScannedAt: time.Now().Add(-time.Hour), Findings: scans[node],
		Probes: []finding.ProbeRun{{Name: "sshd"}, {Name: "sysctl"}}}
	r.Finalize()
	return r
}

// run runs `nodeguard report` as a user would.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = cli.Main(ctx, append([]string{"report"}, args...), cli.IO{Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func runJSON(t *testing.T, args ...string) (int, *fleet.Fleet) {
	t.Helper()
	code, out, stderr := run(t, append(args, "--output", "json")...)
	var f fleet.Fleet
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("report %v: exit %d, output is not JSON (%v): %s\nstderr: %s", args, code, err, out, stderr)
	}
	return code, &f
}

type nodeRow struct {
	Name    string
	Source  fleet.Source
	Failing int
	Worst   finding.Severity
	Errors  int
}

func rows(f *fleet.Fleet) []nodeRow {
	var out []nodeRow
	for _, n := range f.Nodes {
		out = append(out, nodeRow{n.Name, n.Source, n.Failing, n.Worst, n.Errors})
	}
	return out
}

func TestReport(t *testing.T) {
	env := kubeenv.Start(t)
	admin := env.Client(t, env.Admin)
	ctx := context.Background()

	// The agents' conditions, as they patch them; worker-4 has none.
	nodes := map[string]*corev1.Node{}
	for _, name := range []string{"worker-1", "worker-2", "worker-3", "worker-4"} {
		n, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
		if scans[name] != nil {
			patchConditions(t, admin, name, scanOf(name))
		}
	}
	reader := grantReader(t, env, admin)
	outsider := env.Kubeconfig(t, "outsider")

	wantConditions := []nodeRow{
		{"worker-1", fleet.FromConditions, 2, finding.High, 1},
		{"worker-3", fleet.FromConditions, 1, finding.Medium, 0},
		{"worker-2", fleet.FromConditions, 1, finding.Low, 0},
		{"worker-4", fleet.FromNone, 0, "", 0},
	}
	t.Run("without the CRD every node falls back to its conditions", func(t *testing.T) {
		code, f := runJSON(t, "--kubeconfig", reader)
		if code != cli.ExitFindings || f.OpenReportsServed || !reflect.DeepEqual(rows(f), wantConditions) {
			t.Errorf("exit %d, served %v, nodes\n got %+v\nwant %+v", code, f.OpenReportsServed, rows(f), wantConditions)
		}
		if !reflect.DeepEqual(f.AtOrAboveFailOn, []string{"worker-1"}) || len(f.Checks) != 0 {
			t.Errorf("at or above high %v, checks %+v", f.AtOrAboveFailOn, f.Checks)
		}
		if p := f.Nodes[0].Problems; len(p) != 2 || p[0].Condition != string(kube.InsecureRemoteAccess) || p[0].Checks != 2 ||
			p[1].Condition != string(kube.KernelHardeningViolation) || p[1].Status != finding.Error {
			t.Errorf("worker-1's problems %+v", p)
		}
		_, out, _ := run(t, "--kubeconfig", reader)
		if !strings.Contains(out, "CRD not installed") {
			t.Errorf("the table does not say the CRD is missing:\n%s", out)
		}
	})

	env.InstallCRDs(t, crdFiles...)
	writer, err := apiclient.New(env.RESTConfig(t, env.Admin))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker-1", "worker-2"} {
		rep, err := openreports.Build(scanOf(name), openreports.Node{Name: name, UID: nodes[name].UID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writer.ApplyClusterReport(ctx, rep, "nodeguard"); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("json", func(t *testing.T) {
		code, f := runJSON(t, "--kubeconfig", reader)
		want := []nodeRow{
			{"worker-1", fleet.FromReport, 2, finding.High, 1},
			{"worker-3", fleet.FromConditions, 1, finding.Medium, 0},
			{"worker-2", fleet.FromReport, 1, finding.Low, 0},
			{"worker-4", fleet.FromNone, 0, "", 0},
		}
		if code != cli.ExitFindings || !f.OpenReportsServed || !reflect.DeepEqual(rows(f), want) {
			t.Errorf("exit %d, served %v, nodes\n got %+v\nwant %+v", code, f.OpenReportsServed, rows(f), want)
		}
		wantSummary := fleet.Summary{Nodes: 4, FromReports: 2, FromConditions: 1, WithoutData: 1, FailingNodes: 3, ErroringNodes: 1}
		if f.Summary != wantSummary || f.FailOn != "high" {
			t.Errorf("summary %+v failOn %q", f.Summary, f.FailOn)
		}
		type checkRow struct {
			ID                string
			Severity          finding.Severity
			Failing, Erroring []string
		}
		var got []checkRow
		for _, c := range f.Checks {
			got = append(got, checkRow{c.ID, c.Severity, c.FailingNodes, c.ErroringNodes})
		}
		wantChecks := []checkRow{
			{"sshd.x11-forwarding", finding.Low, []string{"worker-1", "worker-2"}, []string{}},
			{"sshd.root-login", finding.High, []string{"worker-1"}, []string{}},
			{"sysctl.kernel.kptr_restrict", finding.Medium, []string{}, []string{"worker-1"}},
		}
		if !reflect.DeepEqual(got, wantChecks) {
			t.Errorf("checks\n got %+v\nwant %+v", got, wantChecks)
		}
		w1 := f.Nodes[0]
		if w1.Role != "worker" || w1.ReportChangedAt == nil || w1.LastHeartbeat == nil || len(w1.Problems) != 3 ||
			w1.Problems[0].Check != "sshd.root-login" || w1.Problems[0].Title != "title of sshd.root-login" {
			t.Errorf("worker-1: %+v", w1)
		}
	})

	t.Run("exit codes follow --fail-on", func(t *testing.T) {
		for _, tc := range []struct {
			failOn string
			code   int
			nodes  []string
		}{
			{"critical", cli.ExitOK, []string{}},
			{"high", cli.ExitFindings, []string{"worker-1"}},
			{"medium", cli.ExitFindings, []string{"worker-1", "worker-3"}}, // worker-1: its medium error counts
			{"low", cli.ExitFindings, []string{"worker-1", "worker-3", "worker-2"}},
			{"info", cli.ExitFindings, []string{"worker-1", "worker-3", "worker-2"}},
			{"none", cli.ExitOK, []string{}},
		} {
			code, f := runJSON(t, "--kubeconfig", reader, "--fail-on", tc.failOn)
			if code != tc.code || !reflect.DeepEqual(f.AtOrAboveFailOn, tc.nodes) {
				t.Errorf("--fail-on %s: exit %d %v, want %d %v", tc.failOn, code, f.AtOrAboveFailOn, tc.code, tc.nodes)
			}
		}
		for _, args := range [][]string{{"--fail-on", "urgent"}, {"--output", "yaml"}, {"stray"}} {
			if code, _, stderr := run(t, append([]string{"--kubeconfig", reader}, args...)...); code != cli.ExitUsage || stderr == "" {
				t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		code, out, stderr := run(t, "--kubeconfig", reader, "--fail-on", "medium")
		t.Logf("nodeguard report --fail-on medium:\n%s", out)
		if code != cli.ExitFindings {
			t.Errorf("exit %d: %s", code, stderr)
		}
		// Rows in order, one per node, columns as documented.
		want := []string{
			`^4 nodes: 2 from reports, 1 from node conditions, 1 without data; 2 at or above medium$`,
			`^NODE +SOURCE +FAILING +WORST +ERRORS +SEEN +TOP$`,
			`^worker-1 +report +2 +high +1 \(medium\) +\d+[smhd] +sshd\.root-login$`,
			`^worker-3 +conditions +1 +medium +0 +\d+[smhd] +InsecureRemoteAccess$`,
			`^worker-2 +report +1 +low +0 +\d+[smhd] +sshd\.x11-forwarding$`,
			`^worker-4 +none +- +- +- +- +-$`,
			`^CHECK +SEVERITY +FAILING +ERRORS +NODES$`,
			`^sshd\.x11-forwarding +low +2 +0 +worker-1, worker-2$`,
			`^sshd\.root-login +high +1 +0 +worker-1$`,
			`^sysctl\.kernel\.kptr_restrict +medium +0 +1 +worker-1 \(error\)$`,
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		i := 0
		for _, l := range lines {
			if i < len(want) && regexp.MustCompile(want[i]).MatchString(l) {
				i++
			}
		}
		if i < len(want) {
			t.Errorf("the table lacks, in order, %q:\n%s", want[i], out)
		}
	})

	t.Run("a user without the reader role gets exit 2 and the role to bind", func(t *testing.T) {
		code, out, stderr := run(t, "--kubeconfig", outsider)
		t.Logf("stderr: %s", stderr)
		if code != cli.ExitUsage || out != "" || !strings.Contains(stderr, "403 Forbidden") || !strings.Contains(stderr, "nodeguard-report-reader") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})

	t.Run("an unreachable API server is exit 2", func(t *testing.T) {
		env.StopAPIServer()
		defer env.StartAPIServer(t)
		code, out, stderr := run(t, "--kubeconfig", reader)
		t.Logf("stderr: %s", stderr)
		if code != cli.ExitUsage || out != "" || !strings.Contains(stderr, "unreachable") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})
}

// patchConditions sets the conditions the agent derives from rep on the
// Node's status, as a strategic merge patch on the condition type.
func patchConditions(t *testing.T, admin kubernetes.Interface, node string, rep *finding.Report) {
	t.Helper()
	now := metav1.NewTime(time.Now().Add(-30 * time.Second))
	var conds []corev1.NodeCondition
	verdicts := kube.Verdicts(rep)
	for _, ct := range kube.ConditionTypes {
		if v, ok := verdicts[ct.Type]; ok {
			conds = append(conds, corev1.NodeCondition{Type: ct.Type, Status: v.Status, Reason: v.Reason, Message: v.Message,
				LastHeartbeatTime: now, LastTransitionTime: now})
		}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Nodes().PatchStatus(context.Background(), node, patch); err != nil {
		t.Fatal(err)
	}
}

// grantReader binds a user to the ClusterRole nodeguard-report-reader as the
// manifests ship it, and returns the user's kubeconfig.
func grantReader(t *testing.T, env *kubeenv.Env, admin kubernetes.Interface) string {
	t.Helper()
	docs, err := manifests.Build()
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(docs["ClusterRole/nodeguard-report-reader"], &role); err != nil || role.Name == "" {
		t.Fatalf("manifests: ClusterRole/nodeguard-report-reader: %v", err)
	}
	ctx := context.Background()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "fleet-reader"}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := env.Kubeconfig(t, "fleet-reader")
	// RBAC takes effect when the authorizer's cache sees the binding.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := env.Client(t, kc).CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return kc
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("the reader still cannot list nodes: %w", err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
