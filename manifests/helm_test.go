package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/helmbin"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
)

// The chart of the kustomize base.
const chartDir = "helm/nodeguard"

// chartLabels are the labels the chart adds to every object's metadata; they
// are all that may differ from the kustomize build.
var chartLabels = []string{
	"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version",
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return helmbin.Run(t, nil, args...)
}

// helmTemplate renders the chart as release "nodeguard" in namespace
// "nodeguard" (the base's) with extra helm arguments, keyed "Kind/name".
func helmTemplate(t *testing.T, extra ...string) map[string]map[string]any {
	t.Helper()
	out, err := helm(t, append([]string{"template", "nodeguard", chartDir, "--namespace", "nodeguard"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("helm template output does not parse: %v\n%s", err, doc)
		}
		if m == nil {
			continue
		}
		meta, _ := m["metadata"].(map[string]any)
		key := fmt.Sprintf("%v/%v", m["kind"], meta["name"])
		if _, dup := objs[key]; dup {
			t.Fatalf("helm template renders %s twice", key)
		}
		objs[key] = m
	}
	return objs
}

// helmObjects decodes rendered objects strictly with the API types.
func helmObjects(t *testing.T, objs map[string]map[string]any) map[string]runtime.Object {
	t.Helper()
	dec := strictDecoder(t)
	out := map[string]runtime.Object{}
	for k, m := range objs {
		y, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		o, _, err := dec.Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("chart's %s does not decode strictly: %v", k, err)
		}
		out[k] = o
	}
	return out
}

var clusterScoped = map[string]bool{
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// diff lists the paths at which a and b differ.
func diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		for _, k := range keys(am) {
			if _, ok := bm[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: only in kustomize", path, k))
				continue
			}
			out = append(out, diff(path+"."+k, am[k], bm[k])...)
		}
		for _, k := range keys(bm) {
			if _, ok := am[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: only in helm", path, k))
			}
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var out []string
		for i := range as {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	// kustomize re-emits the folded (>-) CEL expressions of
	// admission-policy.yaml with an extra blank line where a more-indented
	// line follows (the source file parses to a single line break there, as
	// the chart's copy does); whitespace is not significant in CEL.
	if as, ok := a.(string); ok && strings.HasSuffix(strings.ToLower(path), "expression") {
		if bs, ok := b.(string); ok && strings.Join(strings.Fields(as), " ") == strings.Join(strings.Fields(bs), " ") {
			return nil
		}
	}
	ay, _ := yaml.Marshal(a)
	by, _ := yaml.Marshal(b)
	const max = 300
	return []string{fmt.Sprintf("%s: kustomize %.*s, helm %.*s", path, max, ay, max, by)}
}

// With the default values, the chart renders exactly the kustomize base's
// objects; only the chart's own labels are added to each object's metadata.
func TestHelmTemplateMatchesKustomize(t *testing.T) {
	base, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	chart := helmTemplate(t)
	helmObjects(t, chart)

	for _, k := range keys(base) {
		h, ok := chart[k]
		if !ok {
			t.Errorf("the chart does not render %s", k)
			continue
		}
		meta := h["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		for _, l := range chartLabels {
			if _, ok := labels[l]; !ok {
				t.Errorf("chart's %s lacks the label %s", k, l)
			}
			delete(labels, l)
		}
		if len(labels) == 0 {
			delete(meta, "labels")
		}
		var want map[string]any
		if err := yaml.Unmarshal(base[k], &want); err != nil {
			t.Fatal(err)
		}
		// kustomize's namespace transformer does not know these kinds are
		// cluster-scoped and gives them the base's namespace, which means
		// nothing on a cluster-scoped object; the chart sets none.
		if clusterScoped[want["kind"].(string)] {
			delete(want["metadata"].(map[string]any), "namespace")
		}
		for _, d := range diff(k, want, h) {
			t.Error(d)
		}
	}
	for _, k := range keys(chart) {
		if _, ok := base[k]; !ok {
			t.Errorf("the chart renders %s, which the kustomize base does not have", k)
		}
	}
}

// The chart's files/ are copies of the base's sources (Helm reads no file
// outside the chart); TestHelmTemplateMatchesKustomize would catch a drift
// too, but this names the fix.
func TestHelmChartFilesAreCopies(t *testing.T) {
	for src, dst := range map[string]string{
		DashboardFile: "grafana-dashboard.json",
		RulesFile:     "nodeguard.rules.yaml",
	} {
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst = filepath.Join(chartDir, "files", dst)
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from manifests/%s: cp manifests/%s manifests/%s", dst, src, src, dst)
		}
	}
}

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		{"lint", "--strict", chartDir},
		{"lint", "--strict", chartDir, "--set", "metrics.auth=none", "--set", "policy=ports: {}"},
	} {
		if out, err := helm(t, args...); err != nil {
			t.Error(err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm %v:\n%s", args, out)
		}
	}
}

// Each value changes what it says and nothing else breaks.
func TestHelmValues(t *testing.T) {
	daemonSet := func(t *testing.T, objs map[string]map[string]any) (*appsv1.DaemonSet, map[string]runtime.Object) {
		t.Helper()
		decoded := helmObjects(t, objs)
		ds, ok := decoded["DaemonSet/nodeguard"].(*appsv1.DaemonSet)
		if !ok {
			t.Fatalf("no DaemonSet/nodeguard in %v", keys(objs))
		}
		return ds, decoded
	}

	t.Run("image-tolerations-nodeSelector-resources", func(t *testing.T) {
		values := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(values, []byte(`
image: {repository: example/agent, tag: v1.2.3, pullPolicy: Always}
tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux}
resources: {requests: {cpu: 50m, memory: 100Mi}, limits: {cpu: null, memory: 1Gi}}  # null drops a default
`), 0o644); err != nil {
			t.Fatal(err)
		}
		ds, _ := daemonSet(t, helmTemplate(t, "-f", values))
		pod := ds.Spec.Template.Spec
		c := pod.Containers[0]
		if c.Image != "example/agent:v1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("image %s, pull policy %s", c.Image, c.ImagePullPolicy)
		}
		if len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" || pod.Tolerations[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("tolerations %+v", pod.Tolerations)
		}
		if !reflect.DeepEqual(pod.NodeSelector, map[string]string{"kubernetes.io/os": "linux"}) {
			t.Errorf("nodeSelector %v", pod.NodeSelector)
		}
		r := c.Resources
		if r.Requests.Cpu().String() != "50m" || r.Requests.Memory().String() != "100Mi" || r.Limits.Memory().String() != "1Gi" || !r.Limits.Cpu().IsZero() {
			t.Errorf("resources %+v", r)
		}
		if v := ds.Labels["app.kubernetes.io/version"]; v != "v1.2.3" {
			t.Errorf("version label %q, want the image tag", v)
		}
	})

	t.Run("policy", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(examplesDir, "cluster-policy", "policy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		objs := helmTemplate(t, "--set-file", "policy="+filepath.Join(examplesDir, "cluster-policy", "policy.yaml"))
		ds, decoded := daemonSet(t, objs)
		// The same wiring the kustomize example overlay has, minus its
		// node affinity (a chart value does not split node pools).
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpExists}},
			}}},
		}}
		doc, _ := policyOf(t, decoded, ds)
		if doc != string(src) {
			t.Errorf("ConfigMap policy.yaml:\n%s\nwant the file:\n%s", doc, src)
		}
		p, err := policy.Parse([]byte(doc), "chart")
		if err != nil {
			t.Fatal(err)
		}
		if len(policy.Section[ports.Policy](p, ports.Name).Allow) == 0 {
			t.Error("the policy lost its allowed ports")
		}
		if ds.Spec.Template.Annotations["checksum/policy"] == "" {
			t.Error("no checksum/policy annotation: a changed policy would not roll the agents")
		}
		// Without a policy nothing of it is rendered.
		ds, decoded = daemonSet(t, helmTemplate(t))
		if _, ok := decoded["ConfigMap/nodeguard-policy"]; ok {
			t.Error("ConfigMap/nodeguard-policy rendered without a policy")
		}
		if slices.ContainsFunc(ds.Spec.Template.Spec.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--policy") }) {
			t.Error("--policy passed without a policy")
		}
	})

	t.Run("metrics.auth=none", func(t *testing.T) {
		objs := helmTemplate(t, "--set", "metrics.auth=none")
		ds, decoded := daemonSet(t, objs)
		c := ds.Spec.Template.Spec.Containers[0]
		if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--metrics-auth") }) {
			t.Errorf("args %v", c.Args)
		}
		if c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP {
			t.Error("probes still use HTTPS, which the agent serves only with --metrics-auth=kubernetes or a certificate")
		}
		for _, k := range []string{
			"ClusterRole/nodeguard-metrics-auth", "ClusterRoleBinding/nodeguard-metrics-auth",
			"ClusterRole/nodeguard-metrics-reader", "ClusterRoleBinding/nodeguard-metrics-reader",
			"ServiceAccount/nodeguard-scraper", "Secret/nodeguard-scraper-token",
		} {
			if _, ok := decoded[k]; ok {
				t.Errorf("%s rendered with metrics.auth=none", k)
			}
		}
		sm := objs["ServiceMonitor/nodeguard"]["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
		if sm["scheme"] != "http" || sm["authorization"] != nil || sm["tlsConfig"] != nil {
			t.Errorf("ServiceMonitor endpoint %v", sm)
		}
	})

	t.Run("reports", func(t *testing.T) {
		grants := func(decoded map[string]runtime.Object) bool {
			role, ok := decoded["ClusterRole/nodeguard-agent"].(*rbacv1.ClusterRole)
			if !ok {
				t.Fatal("no ClusterRole/nodeguard-agent")
			}
			return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "openreports.io") })
		}
		for _, tc := range []struct {
			value  string
			grants bool
		}{{"openreports", true}, {"none", false}} {
			ds, decoded := daemonSet(t, helmTemplate(t, "--set", "reports="+tc.value))
			if args := ds.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--reports="+tc.value) {
				t.Errorf("reports=%s: args %v", tc.value, args)
			}
			if grants(decoded) != tc.grants {
				t.Errorf("reports=%s: the agent's ClusterRole grants ClusterReports: %v", tc.value, !tc.grants)
			}
		}
		// The CRDs ship in crds/, which helm install applies and helm
		// template leaves out unless asked.
		objs := helmTemplate(t, "--include-crds")
		for _, k := range []string{"CustomResourceDefinition/clusterreports.openreports.io", "CustomResourceDefinition/reports.openreports.io"} {
			if _, ok := objs[k]; !ok {
				t.Errorf("--include-crds: no %s", k)
			}
		}
	})

	t.Run("namespace", func(t *testing.T) {
		objs := helmTemplate(t, "--namespace", "security") // the last --namespace wins
		if _, ok := objs["Namespace/security"]; !ok {
			t.Errorf("no Namespace/security in %v", keys(objs))
		}
		for k, m := range objs {
			y, _ := yaml.Marshal(m)
			if strings.Contains(string(y), "namespace: nodeguard") || strings.Contains(string(y), "- nodeguard\n") {
				t.Errorf("%s still names the namespace nodeguard:\n%s", k, y)
			}
		}
	})

	t.Run("toggles", func(t *testing.T) {
		objs := helmTemplate(t,
			"--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false",
			"--set", "admissionPolicy.enabled=false", "--set", "networkPolicy.enabled=false",
			"--set", "dashboard.enabled=false", "--set", "namespace.create=false")
		for _, k := range []string{
			"ServiceMonitor/nodeguard", "PrometheusRule/nodeguard",
			"ValidatingAdmissionPolicy/nodeguard-own-node-only", "ValidatingAdmissionPolicyBinding/nodeguard-own-node-only",
			"NetworkPolicy/nodeguard-allow-prometheus", "ConfigMap/nodeguard-dashboard", "Namespace/nodeguard",
		} {
			if _, ok := objs[k]; ok {
				t.Errorf("%s rendered although turned off", k)
			}
		}
		if _, ok := objs["DaemonSet/nodeguard"]; !ok {
			t.Error("no DaemonSet")
		}
	})
}

// values.schema.json refuses bad values, and says which and why.
func TestHelmValuesSchema(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--set", "image.pullPolicy=Sometimes"}, []string{"/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"}},
		{[]string{"--set", "metrics.auth=basic"}, []string{"/metrics/auth", "'kubernetes', 'none'"}},
		{[]string{"--set", "serviceMonitor.enabled=yes"}, []string{"/serviceMonitor/enabled", "boolean"}},
		{[]string{"--set", "resources.requests.cpu=lots"}, []string{"/resources/requests/cpu", "does not match pattern"}},
		{[]string{"--set", "image.tag=a:b"}, []string{"/image/tag", "does not match pattern"}},
		{[]string{"--set", "tolerations[0].operator=Maybe"}, []string{"/tolerations/0/operator", "'Exists', 'Equal'"}},
		{[]string{"--set", "reports=policyreports"}, []string{"/reports", "'openreports', 'none'"}},
		{[]string{"--set", "report=none"}, []string{"additional properties 'report' not allowed"}},
		{[]string{"--set", "nodeSelector.pool=null", "--set-json", "nodeSelector={\"pool\":1}"}, []string{"/nodeSelector/pool", "string"}},
	} {
		for _, cmd := range [][]string{
			append([]string{"template", "nodeguard", chartDir}, tc.args...),
			append([]string{"lint", chartDir}, tc.args...),
		} {
			out, err := helm(t, cmd...)
			if err == nil {
				t.Errorf("helm %v accepted the values", cmd)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("helm %v: output lacks %q:\n%s", cmd, w, out)
				}
			}
		}
	}
}
