package conditions

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/export/openreports/openreportstest"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// openReportsCRDs are the CRD files the project ships.
func openReportsCRDs() []string {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "manifests", "openreports")
	return []string{filepath.Join(dir, "openreports.io_clusterreports.yaml"), filepath.Join(dir, "openreports.io_reports.yaml")}
}

// TestOpenReportsOnARealAPIServer runs a real agent, bound to the
// ClusterRole of manifests/rbac.yaml, against kube-apiserver with the
// OpenReports CRDs and kube-controller-manager's garbage collector: the
// report is created, rewritten when the findings change and only then,
// survives a restart without a write, and goes with its Node.
func TestOpenReportsOnARealAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	env.InstallCRDs(t, openReportsCRDs()...)
	env.StartControllerManager(t, "garbage-collector-controller")
	bin := buildAgent(t)
	admin := env.Client(t, env.Admin)
	applyRBAC(t, admin)
	agentKubeconfig := env.Kubeconfig(t, agentUser, "system:serviceaccounts", "system:serviceaccounts:nodeguard")
	reader, err := apiclient.New(env.RESTConfig(t, env.Admin))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const node = "reports-node"
	createNode(t, admin, node, nil)
	name, _ := openreports.Name(node)
	get := func() (*v1alpha1.ClusterReport, error) { return reader.GetClusterReport(ctx, name) }
	nodeUID := func() types.UID {
		n, err := admin.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.UID
	}

	h := newHost(t)
	h.listen(t, 4444)
	args := []string{"--host-root", h.dir, "--interval", "1s", "--kubeconfig", agentKubeconfig,
		"--node-name", node, "--heartbeat-period", "2s"}
	a := startAgent(t, bin, args...)
	written := func(a *agent) float64 { return a.metric("nodeguard_kube_report_writes_total", "outcome", "written") }

	var first *v1alpha1.ClusterReport
	eventually(t, 60*time.Second, "the ClusterReport naming port 4444", func() (bool, string) {
		r, err := get()
		if err != nil {
			return false, err.Error()
		}
		first = r
		return hasFailure(r, ":4444"), "no failing result names :4444"
	}, a)
	uid := nodeUID()
	if s := first.Scope; s == nil || s.Kind != "Node" || s.Name != node || s.UID != uid {
		t.Errorf("scope %+v, want the Node %s (%s)", first.Scope, node, uid)
	}
	if o := first.OwnerReferences; len(o) != 1 || o[0].Kind != "Node" || o[0].UID != uid {
		t.Errorf("owner references %+v", first.OwnerReferences)
	}
	s := first.Summary
	if s.Fail == 0 || s.Pass+s.Fail+s.Error+s.Skip != len(first.Results) || first.Source != "nodeguard" {
		t.Errorf("summary %+v for %d results, source %q", s, len(first.Results), first.Source)
	}
	if a.metric("nodeguard_kube_report_crd_served") != 1 {
		t.Error("nodeguard_kube_report_crd_served is not 1")
	}

	// Five scans that find the same: no write (same resourceVersion, one
	// write counted).
	time.Sleep(5 * time.Second)
	if r, err := get(); err != nil || r.ResourceVersion != first.ResourceVersion {
		t.Errorf("unchanged findings rewrote the report (resourceVersion %s -> %v, %v)", first.ResourceVersion, r.ResourceVersion, err)
	}
	if n := written(a); n != 1 {
		t.Errorf("writes_total{written} = %v after 5 unchanged scans, want 1", n)
	}

	// A change: rewritten once.
	h.listen(t, 4444, 5555)
	eventually(t, 30*time.Second, "the report naming port 5555", func() (bool, string) {
		r, err := get()
		if err != nil {
			return false, err.Error()
		}
		return hasFailure(r, ":5555"), "not yet"
	}, a)
	time.Sleep(3 * time.Second)
	if n := written(a); n != 2 {
		t.Errorf("writes_total{written} = %v after one change, want 2", n)
	}
	changed, err := get()
	if err != nil {
		t.Fatal(err)
	}

	// A restarted agent finds its report current and does not write.
	a.stop()
	a = startAgent(t, bin, args...)
	eventually(t, 30*time.Second, "the restarted agent's first scans", func() (bool, string) {
		return a.metric("nodeguard_scans_total") >= 3, "fewer than 3 scans"
	}, a)
	if r, err := get(); err != nil || r.ResourceVersion != changed.ResourceVersion {
		t.Errorf("a restart with the same findings rewrote the report (resourceVersion %s -> %v, %v)", changed.ResourceVersion, r.ResourceVersion, err)
	}
	if n := written(a); n != 0 {
		t.Errorf("the restarted agent wrote %v times", n)
	}

	// --reports=none: conditions, and no report.
	const quiet = "reports-none-node"
	createNode(t, admin, quiet, nil)
	q := startAgent(t, bin, "--host-root", h.dir, "--interval", "1s", "--kubeconfig", agentKubeconfig,
		"--node-name", quiet, "--reports=none")
	eventually(t, 60*time.Second, "UnexpectedOpenPorts True with --reports=none", func() (bool, string) {
		c, all := condition(t, admin, quiet, "UnexpectedOpenPorts")
		return c != nil && c.Status == corev1.ConditionTrue, describe(all)
	}, q)
	time.Sleep(2 * time.Second)
	quietName, _ := openreports.Name(quiet)
	if _, err := reader.GetClusterReport(ctx, quietName); !apierrors.IsNotFound(err) {
		t.Errorf("--reports=none: GET %s: %v, want NotFound", quietName, err)
	}
	q.stop()

	// The size bound's case: 10,000 unexpected listeners make a report
	// the API server takes.
	big := openreportstest.Listeners(quiet, 10000)
	quietNode, err := admin.CoreV1().Nodes().Get(ctx, quiet, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := openreports.Build(big, openreports.Node{Name: quiet, UID: quietNode.UID})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := reader.ApplyClusterReport(ctx, cr, "nodeguard")
	if err != nil {
		t.Fatalf("the API server refused the report of a node with 10,000 listeners: %v", err)
	}
	t.Logf("10,000 listeners: %d results stored, %s omitted", len(stored.Results), stored.Annotations[openreports.AnnotationOmitted])

	// The Node goes: the garbage collector deletes its report.
	if err := admin.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the report deleted with its Node", func() (bool, string) {
		_, err := get()
		return apierrors.IsNotFound(err), "still there"
	}, a)
	// The Node registers again: a new report, owned by the new Node.
	createNode(t, admin, node, nil)
	newUID := nodeUID()
	eventually(t, 90*time.Second, "a report owned by the new Node", func() (bool, string) {
		r, err := get()
		if err != nil {
			return false, err.Error()
		}
		return len(r.OwnerReferences) == 1 && r.OwnerReferences[0].UID == newUID, "owner " + string(r.OwnerReferences[0].UID)
	}, a)
}

// TestOpenReportsWithoutCRD: without the CRD the agent writes nothing,
// says so once, and keeps its conditions.
func TestOpenReportsWithoutCRD(t *testing.T) {
	env := kubeenv.Start(t)
	bin := buildAgent(t)
	admin := env.Client(t, env.Admin)
	applyRBAC(t, admin)
	const node = "no-crd-node"
	createNode(t, admin, node, nil)
	h := newHost(t)
	h.listen(t, 4444)
	a := startAgent(t, bin, "--host-root", h.dir, "--interval", "1s", "--node-name", node,
		"--kubeconfig", env.Kubeconfig(t, agentUser, "system:serviceaccounts", "system:serviceaccounts:nodeguard"))
	eventually(t, 60*time.Second, "UnexpectedOpenPorts True", func() (bool, string) {
		c, all := condition(t, admin, node, "UnexpectedOpenPorts")
		return c != nil && c.Status == corev1.ConditionTrue, describe(all)
	}, a)
	eventually(t, 10*time.Second, "three scans", func() (bool, string) {
		return a.metric("nodeguard_scans_total") >= 3, "fewer"
	}, a)
	if v := a.metric("nodeguard_kube_report_crd_served"); v != 0 {
		t.Errorf("crd_served = %v", v)
	}
	if n := a.metric("nodeguard_kube_report_writes_total", "outcome", "failed"); n != 0 {
		t.Errorf("%v failed writes without the CRD: the agent should not try", n)
	}
	if c := strings.Count(a.log.String(), "CRD not installed"); c != 1 {
		t.Errorf("the missing CRD logged %d times, want once:\n%s", c, agentLines(a.log.String()))
	}
}

func hasFailure(r *v1alpha1.ClusterReport, what string) bool {
	return slices.ContainsFunc(r.Results, func(x v1alpha1.ReportResult) bool {
		return x.Result == "fail" && x.Rule == "ports.listener" && strings.Contains(x.Description, what)
	})
}
