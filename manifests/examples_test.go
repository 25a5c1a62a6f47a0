package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	_ "github.com/nodeguard/nodeguard/agent/anomaly" // the runtime policy section
	_ "github.com/nodeguard/nodeguard/probes/all"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
)

const examplesDir = "../docs/examples"

func buildOverlay(t *testing.T, dir string) map[string]runtime.Object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	dec := strictDecoder(t)
	out := map[string]runtime.Object{}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := dec.Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("%s: %s/%s does not decode strictly: %v", dir, r.GetKind(), r.GetName(), err)
		}
		out[r.GetKind()+"/"+r.GetName()] = obj
	}
	return out
}

// policyOf returns the DaemonSet's --policy file as mounted from a ConfigMap
// of the same build, and the node affinity expression on the pool label.
func policyOf(t *testing.T, objs map[string]runtime.Object, ds *appsv1.DaemonSet) (string, corev1.NodeSelectorRequirement) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	if !slices.Contains(c.Args, "--policy=/etc/nodeguard/policy.yaml") {
		t.Fatalf("%s: args %v do not load the policy", ds.Name, c.Args)
	}
	var cmName string
	for _, v := range pod.Volumes {
		if v.Name == "policy" && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm, ok := objs["ConfigMap/"+cmName].(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("%s mounts ConfigMap %q, which the build does not have", ds.Name, cmName)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "policy" && m.MountPath == "/etc/nodeguard" && m.ReadOnly
	}) {
		t.Fatalf("%s does not mount the policy at /etc/nodeguard", ds.Name)
	}
	aff := pod.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatalf("%s has no required node affinity", ds.Name)
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
		t.Fatalf("%s: node affinity %+v", ds.Name, terms)
	}
	return cm.Data["policy.yaml"], terms[0].MatchExpressions[0]
}

// The overlays docs/operations.md shows build, and together put exactly one
// agent on every node, each with a policy the agent accepts.
func TestExampleOverlays(t *testing.T) {
	cluster := buildOverlay(t, filepath.Join(examplesDir, "cluster-policy"))
	pool := buildOverlay(t, filepath.Join(examplesDir, "pool-gpu"))

	base := kustomizeBuild(t)
	for k := range base.objects {
		if _, ok := cluster[k]; !ok {
			t.Errorf("cluster-policy lost %s of the base", k)
		}
	}
	var poolDS *appsv1.DaemonSet
	for k, o := range pool {
		if _, clash := cluster[k]; clash {
			t.Errorf("pool-gpu would overwrite %s of cluster-policy", k)
		}
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			poolDS = o
		case *corev1.ConfigMap:
		default:
			t.Errorf("pool-gpu has %s; it should add only its DaemonSet and policy", k)
		}
	}
	if poolDS == nil {
		t.Fatal("pool-gpu has no DaemonSet")
	}
	if sa := poolDS.Spec.Template.Spec.ServiceAccountName; cluster["ServiceAccount/"+sa] == nil {
		t.Errorf("pool-gpu runs as ServiceAccount %q, which the base does not create", sa)
	}
	svc := cluster["Service/nodeguard"].(*corev1.Service)
	if !subset(svc.Spec.Selector, poolDS.Spec.Template.Labels) {
		t.Error("the base Service (and so the ServiceMonitor) does not select the pool's pods")
	}

	clusterDS := cluster["DaemonSet/nodeguard"].(*appsv1.DaemonSet)
	clusterPolicy, notIn := policyOf(t, cluster, clusterDS)
	poolPolicy, in := policyOf(t, pool, poolDS)
	if notIn.Key != in.Key || !slices.Equal(notIn.Values, in.Values) ||
		notIn.Operator != corev1.NodeSelectorOpNotIn || in.Operator != corev1.NodeSelectorOpIn {
		t.Errorf("node affinities %+v and %+v do not split the nodes between the two DaemonSets", notIn, in)
	}

	for name, doc := range map[string]string{"cluster-policy": clusterPolicy, "pool-gpu": poolPolicy} {
		p, err := policy.Parse([]byte(doc), name)
		if err != nil {
			t.Errorf("%s policy: %v", name, err)
			continue
		}
		allow := policy.Section[ports.Policy](p, ports.Name).Allow
		if len(allow) == 0 {
			t.Errorf("%s policy allows no extra port", name)
		}
	}
	// The ConfigMaps hold the files docs/operations.md quotes.
	for dir, doc := range map[string]string{"cluster-policy": clusterPolicy, "pool-gpu": poolPolicy} {
		src, err := os.ReadFile(filepath.Join(examplesDir, dir, "policy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if string(src) != doc {
			t.Errorf("%s: the ConfigMap does not hold policy.yaml", dir)
		}
	}
}
