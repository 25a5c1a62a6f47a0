package manifests

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// built is the kustomize build of this directory, every object decoded
// strictly (unknown or duplicate fields are errors) with the API types.
type built struct {
	yaml    map[string][]byte // "Kind/name" -> YAML as kustomize emitted it
	objects map[string]runtime.Object
}

func (b *built) get(t *testing.T, key string) runtime.Object {
	t.Helper()
	o, ok := b.objects[key]
	if !ok {
		t.Fatalf("kustomize build has no %s; it has %v", key, keys(b.objects))
	}
	return o
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme, admissionregistrationv1.AddToScheme,
		monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

func kustomizeBuild(t *testing.T) *built {
	t.Helper()
	docs, err := Build()
	if err != nil {
		t.Fatalf("kustomize build manifests/: %v", err)
	}
	dec := strictDecoder(t)
	b := &built{yaml: docs, objects: map[string]runtime.Object{}}
	for key, y := range docs {
		obj, _, err := dec.Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("%s does not decode strictly: %v", key, err)
		}
		b.objects[key] = obj
	}
	return b
}

func TestKustomizeBuildDecodesStrictly(t *testing.T) {
	b := kustomizeBuild(t)
	want := []string{
		"Namespace/nodeguard", "ServiceAccount/nodeguard", "DaemonSet/nodeguard", "Service/nodeguard",
		"ServiceMonitor/nodeguard", "PrometheusRule/nodeguard", "NetworkPolicy/nodeguard-allow-prometheus",
		"ConfigMap/nodeguard-dashboard",
	}
	for _, k := range want {
		b.get(t, k)
	}
	for k, o := range b.objects {
		if k == "Namespace/nodeguard" || strings.HasPrefix(k, "ClusterRole") || strings.HasPrefix(k, "ValidatingAdmissionPolicy") {
			continue
		}
		if ns := o.(interface{ GetNamespace() string }).GetNamespace(); ns != "nodeguard" {
			t.Errorf("%s is in namespace %q, want nodeguard", k, ns)
		}
	}
}

// The strict decoder must reject what a typo would produce, or the test above
// proves nothing.
func TestStrictDecoderRejectsUnknownFields(t *testing.T) {
	dec := strictDecoder(t)
	for _, y := range []string{
		"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec: {templete: {}}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{port: m, relabelling: []}]}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\n",
	} {
		if _, _, err := dec.Decode([]byte(y), nil, nil); err == nil || !runtime.IsStrictDecodingError(err) {
			t.Errorf("decoding %q: got %v, want a strict decoding error", y, err)
		}
	}
}

func TestDaemonSet(t *testing.T) {
	b := kustomizeBuild(t)
	ds := b.get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec
	if !pod.HostPID || pod.HostNetwork {
		t.Errorf("hostPID=%v hostNetwork=%v; want the host's PID namespace and the pod's own network", pod.HostPID, pod.HostNetwork)
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", pod.PriorityClassName)
	}
	tolerateAll := false
	for _, tol := range pod.Tolerations {
		if tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == "" {
			tolerateAll = true
		}
	}
	if !tolerateAll {
		t.Errorf("tolerations %v do not tolerate every taint", pod.Tolerations)
	}
	if sa := b.get(t, "ServiceAccount/nodeguard"); pod.ServiceAccountName != sa.(*corev1.ServiceAccount).Name {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp profile is not RuntimeDefault: %+v", pod.SecurityContext)
	}
	var hostRoot *corev1.Volume
	for i := range pod.Volumes {
		if hp := pod.Volumes[i].HostPath; hp != nil && hp.Path == "/" {
			hostRoot = &pod.Volumes[i]
		}
	}
	if hostRoot == nil {
		t.Fatal("no hostPath volume of the host's /")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.Name != hostRoot.Name {
			continue
		}
		mounted = true
		if m.MountPath != "/host" || !m.ReadOnly || m.MountPropagation == nil ||
			*m.MountPropagation != corev1.MountPropagationHostToContainer {
			t.Errorf("host root mounted as %+v; want /host, read-only, HostToContainer", m)
		}
	}
	if !mounted {
		t.Error("the host root volume is not mounted")
	}
	if !slices.Contains(c.Args, "--host-root=/host") {
		t.Errorf("args %v do not point --host-root at /host", c.Args)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem is not read-only")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		t.Error("container is privileged")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatal("capabilities are not drop: [ALL]")
	}
	added := slices.Clone(sc.Capabilities.Add)
	slices.Sort(added)
	if want := []corev1.Capability{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"}; !slices.Equal(added, want) {
		t.Errorf("added capabilities %v, want exactly %v", added, want)
	}
	// Each added capability is justified in a comment of daemonset.yaml.
	src, err := os.ReadFile("daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, capName := range added {
		i := strings.Index(string(src), "- "+string(capName)+"\n")
		if i < 0 || !strings.Contains(lastLines(string(src[:i]), 1), "#") {
			t.Errorf("capability %s has no comment justifying it right above it", capName)
		}
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s, limit %s", r, req.String(), lim.String())
		}
	}
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "NODE_NAME" {
			env = &c.Env[i]
		}
	}
	if env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME is not taken from spec.nodeName: %+v", env)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || !slices.Contains(c.Args, "--listen=:"+itoa(c.Ports[0].ContainerPort)) {
		t.Errorf("container port %+v does not match the --listen arg in %v", c.Ports, c.Args)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("%s probe %+v, want GET %s on port metrics", name, p, want)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// The namespace enforces "privileged"; this proves the pod needs exactly
// that, for the reasons the manifests give, with Kubernetes's own Pod Security
// checks: baseline forbids only the host namespaces, the host path, the added
// capabilities and the AppArmor override.
func TestPodSecurity(t *testing.T) {
	b := kustomizeBuild(t)
	ns := b.get(t, "Namespace/nodeguard").(*corev1.Namespace)
	if ns.Labels[psaapi.EnforceLevelLabel] != string(psaapi.LevelPrivileged) {
		t.Errorf("namespace enforces %q", ns.Labels[psaapi.EnforceLevelLabel])
	}
	for _, l := range []string{psaapi.AuditLevelLabel, psaapi.WarnLevelLabel} {
		if _, err := psaapi.ParseLevel(ns.Labels[l]); err != nil {
			t.Errorf("namespace label %s: %v", l, err)
		}
	}
	ds := b.get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	ev, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := psapolicy.AggregateCheckResults(ev.EvaluatePod(
		psaapi.LevelVersion{Level: psaapi.LevelBaseline, Version: psaapi.LatestVersion()},
		&ds.Spec.Template.ObjectMeta, &ds.Spec.Template.Spec))
	got := slices.Clone(res.ForbiddenReasons)
	slices.Sort(got)
	want := []string{"forbidden AppArmor profile", "host namespaces", "hostPath volumes", "non-default capabilities"}
	if !slices.Equal(got, want) {
		t.Errorf("baseline forbids %v (%v), want exactly %v", got, res.ForbiddenDetails, want)
	}
}

func TestServiceMonitorScrapesTheDaemonSet(t *testing.T) {
	b := kustomizeBuild(t)
	ds := b.get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	svc := b.get(t, "Service/nodeguard").(*corev1.Service)
	sm := b.get(t, "ServiceMonitor/nodeguard").(*monitoringv1.ServiceMonitor)
	np := b.get(t, "NetworkPolicy/nodeguard-allow-prometheus").(*networkingv1.NetworkPolicy)
	podLabels := ds.Spec.Template.Labels

	if !subset(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Error("Service drops not-ready agents from its endpoints; a degraded agent still has metrics")
	}
	if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Fatalf("ServiceMonitor endpoints %+v do not name the Service port %q", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	relabeledNode := false
	for _, r := range sm.Spec.Endpoints[0].RelabelConfigs {
		if slices.Equal(r.SourceLabels, []monitoringv1.LabelName{"__meta_kubernetes_pod_node_name"}) && r.TargetLabel == "node" {
			relabeledNode = true
		}
	}
	if !relabeledNode {
		t.Error("ServiceMonitor does not copy __meta_kubernetes_pod_node_name into node")
	}
	if svc.Spec.Ports[0].TargetPort != intstr.FromString(ds.Spec.Template.Spec.Containers[0].Ports[0].Name) {
		t.Errorf("Service targetPort %v is not the container's port", svc.Spec.Ports[0].TargetPort)
	}
	if !subset(np.Spec.PodSelector.MatchLabels, podLabels) {
		t.Errorf("NetworkPolicy selects %v, not the agent pods", np.Spec.PodSelector.MatchLabels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) ||
		len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || len(np.Spec.Ingress[0].Ports) != 1 {
		t.Fatalf("NetworkPolicy must allow one peer (Prometheus) on one port: %+v", np.Spec)
	}
	peer := np.Spec.Ingress[0].From[0]
	if peer.PodSelector == nil || peer.NamespaceSelector == nil || len(peer.PodSelector.MatchLabels) == 0 {
		t.Errorf("NetworkPolicy peer %+v is not narrowed to Prometheus pods in a namespace", peer)
	}
	if p := np.Spec.Ingress[0].Ports[0].Port; p == nil || *p != intstr.FromString("metrics") {
		t.Errorf("NetworkPolicy port %v, want the metrics port", p)
	}
}

func TestDashboardConfigMap(t *testing.T) {
	b := kustomizeBuild(t)
	cm := b.get(t, "ConfigMap/nodeguard-dashboard").(*corev1.ConfigMap)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard=1", cm.Labels)
	}
	src, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["nodeguard.json"] != string(src) {
		t.Error("dashboard ConfigMap does not hold grafana-dashboard.json")
	}
}

// rbac.yaml belongs to the node-conditions work; once it exists, its binding
// must grant the role to the ServiceAccount the DaemonSet runs as.
func TestRBACBindsTheAgent(t *testing.T) {
	if _, err := os.Stat("rbac.yaml"); err != nil {
		t.Skip("rbac.yaml (node conditions) is not in manifests/ yet")
	}
	b := kustomizeBuild(t)
	ds := b.get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	var bound bool
	for _, o := range b.objects {
		crb, ok := o.(*rbacv1.ClusterRoleBinding)
		if !ok {
			continue
		}
		for _, s := range crb.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == ds.Spec.Template.Spec.ServiceAccountName && s.Namespace == ds.Namespace {
				bound = true
				b.get(t, "ClusterRole/"+crb.RoleRef.Name)
			}
		}
	}
	if !bound {
		t.Error("no ClusterRoleBinding grants a role to the agent's ServiceAccount")
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
