package deploy

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nodeguard/nodeguard/integration/helmbin"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// The README's `helm install --create-namespace`: helm creates the namespace,
// then applies the chart's Namespace object over it (server-side apply), which
// labels it for Pod Security; every object of the chart is created. An
// upgrade with a policy and an uninstall work too.
func TestHelmInstallToARealAPIServer(t *testing.T) {
	helmbin.Binary(t) // skip (or fail under CI) before starting the API server
	env := kubeenv.Start(t)
	cfg := env.RESTConfig(t, env.Admin)
	a, dyn := newApplier(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	installCRDs(ctx, t, a, dyn)

	chart := filepath.Join(repoRoot(t), "manifests", "helm", "nodeguard")
	kube := []string{"KUBECONFIG=" + env.Admin}
	helm := func(args ...string) string {
		t.Helper()
		out, err := helmbin.Run(t, kube, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	helm("install", "nodeguard", chart, "--namespace", "nodeguard", "--create-namespace")

	ns, err := dyn.Resource(mustGVR("", "v1", "namespaces")).Get(ctx, "nodeguard", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := ns.GetLabels(); l["pod-security.kubernetes.io/enforce"] != "privileged" || l["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("namespace labels %v: the chart did not take the namespace over", l)
	}
	for _, o := range []struct {
		gvr        [3]string
		ns, name   string
		wantAbsent bool
	}{
		{[3]string{"apps", "v1", "daemonsets"}, "nodeguard", "nodeguard", false},
		{[3]string{"", "v1", "secrets"}, "nodeguard", "nodeguard-scraper-token", false},
		{[3]string{"monitoring.coreos.com", "v1", "servicemonitors"}, "nodeguard", "nodeguard", false},
		{[3]string{"monitoring.coreos.com", "v1", "prometheusrules"}, "nodeguard", "nodeguard", false},
		{[3]string{"admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"}, "", "nodeguard-own-node-only", false},
		{[3]string{"rbac.authorization.k8s.io", "v1", "clusterroles"}, "", "nodeguard-metrics-reader", false},
		{[3]string{"", "v1", "configmaps"}, "nodeguard", "nodeguard-policy", true},
	} {
		r := dyn.Resource(mustGVR(o.gvr[0], o.gvr[1], o.gvr[2]))
		var err error
		if o.ns != "" {
			_, err = r.Namespace(o.ns).Get(ctx, o.name, metav1.GetOptions{})
		} else {
			_, err = r.Get(ctx, o.name, metav1.GetOptions{})
		}
		if (err == nil) == o.wantAbsent {
			t.Errorf("%s %s/%s: %v (want absent: %v)", o.gvr[2], o.ns, o.name, err, o.wantAbsent)
		}
	}

	helm("upgrade", "nodeguard", chart, "--namespace", "nodeguard",
		"--set-file", "policy="+filepath.Join(repoRoot(t), "docs", "examples", "cluster-policy", "policy.yaml"))
	cm, err := dyn.Resource(mustGVR("", "v1", "configmaps")).Namespace("nodeguard").Get(ctx, "nodeguard-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after the upgrade with a policy: %v", err)
	}
	if d, _, _ := unstructured.NestedString(cm.Object, "data", "policy.yaml"); d == "" {
		t.Error("nodeguard-policy has no policy.yaml")
	}

	helm("uninstall", "nodeguard", "--namespace", "nodeguard")
	if _, err := dyn.Resource(mustGVR("apps", "v1", "daemonsets")).Namespace("nodeguard").Get(ctx, "nodeguard", metav1.GetOptions{}); err == nil {
		t.Error("the DaemonSet survived helm uninstall")
	}
}
