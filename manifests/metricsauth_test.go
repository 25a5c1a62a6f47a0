package manifests

import (
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// grants reports whether a ClusterRole bound to the service account ns/name
// allows verb on the resource (group/resource) or non-resource URL.
func grants(t *testing.T, b *built, ns, name string, allowed func(rbacv1.PolicyRule) bool) bool {
	t.Helper()
	for _, o := range b.objects {
		crb, ok := o.(*rbacv1.ClusterRoleBinding)
		if !ok || crb.RoleRef.Kind != "ClusterRole" {
			continue
		}
		if !slices.ContainsFunc(crb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == name && s.Namespace == ns
		}) {
			continue
		}
		cr, ok := b.objects["ClusterRole/"+crb.RoleRef.Name].(*rbacv1.ClusterRole)
		if !ok {
			t.Errorf("ClusterRoleBinding %s names ClusterRole %s, which the build lacks", crb.Name, crb.RoleRef.Name)
			continue
		}
		if slices.ContainsFunc(cr.Rules, allowed) {
			return true
		}
	}
	return false
}

func createsReview(group, resource string) func(rbacv1.PolicyRule) bool {
	return func(r rbacv1.PolicyRule) bool {
		return slices.Equal(r.APIGroups, []string{group}) && slices.Equal(r.Resources, []string{resource}) &&
			slices.Equal(r.Verbs, []string{"create"})
	}
}

// By default the agent serves /metrics over HTTPS to bearer tokens the API
// server allows to get /metrics, and the ServiceMonitor scrapes it so with a
// token that is allowed; the kubelet probes stay unauthenticated HTTPS.
func TestMetricsEndpointSecuredByDefault(t *testing.T) {
	b := kustomizeBuild(t)
	ds := b.get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	c := ds.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--metrics-auth=kubernetes") {
		t.Errorf("args %v lack --metrics-auth=kubernetes", c.Args)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || len(p.HTTPGet.HTTPHeaders) != 0 {
			t.Errorf("%s probe %+v: want HTTPS without credentials", name, p)
		}
	}
	sa := ds.Spec.Template.Spec.ServiceAccountName
	for _, r := range [][2]string{{"authentication.k8s.io", "tokenreviews"}, {"authorization.k8s.io", "subjectaccessreviews"}} {
		if !grants(t, b, ds.Namespace, sa, createsReview(r[0], r[1])) {
			t.Errorf("the agent's ServiceAccount may not create %s.%s", r[1], r[0])
		}
	}

	sm := b.get(t, "ServiceMonitor/nodeguard").(*monitoringv1.ServiceMonitor)
	ep := sm.Spec.Endpoints[0]
	if ep.Scheme == nil || *ep.Scheme != "https" {
		t.Errorf("ServiceMonitor scheme %v, want https", ep.Scheme)
	}
	if ep.TLSConfig == nil {
		t.Error("ServiceMonitor has no tlsConfig")
	}
	if ep.BearerTokenFile != "" {
		t.Errorf("ServiceMonitor uses the deprecated bearerTokenFile %q", ep.BearerTokenFile)
	}
	auth := ep.Authorization
	if auth == nil || auth.Credentials == nil || (auth.Type != "" && auth.Type != "Bearer") {
		t.Fatalf("ServiceMonitor authorization %+v: want a Bearer token from a Secret", auth)
	}
	secret, ok := b.objects["Secret/"+auth.Credentials.Name].(*corev1.Secret)
	if !ok || secret.Namespace != sm.Namespace {
		t.Fatalf("ServiceMonitor's token Secret %q is not in the build, in its namespace", auth.Credentials.Name)
	}
	scraper := secret.Annotations[corev1.ServiceAccountNameKey]
	if secret.Type != corev1.SecretTypeServiceAccountToken || auth.Credentials.Key != corev1.ServiceAccountTokenKey || scraper == "" {
		t.Fatalf("Secret %s (type %s, key %s) is not a service account token", secret.Name, secret.Type, auth.Credentials.Key)
	}
	scraperSA, ok := b.objects["ServiceAccount/"+scraper].(*corev1.ServiceAccount)
	if !ok {
		t.Fatalf("the scraper ServiceAccount %s is not in the build", scraper)
	}
	if a := scraperSA.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the scraper ServiceAccount automounts its token; nothing runs as it")
	}
	getMetrics := func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.NonResourceURLs, "/metrics") && slices.Contains(r.Verbs, "get")
	}
	if !grants(t, b, secret.Namespace, scraper, getMetrics) {
		t.Errorf("the scraper %s may not get /metrics", scraper)
	}
	// Least privilege: the scraper may do nothing else.
	if grants(t, b, secret.Namespace, scraper, func(r rbacv1.PolicyRule) bool {
		return !getMetrics(r) || len(r.NonResourceURLs) != 1 || len(r.Verbs) != 1
	}) {
		t.Errorf("the scraper %s is granted more than get /metrics", scraper)
	}
}
