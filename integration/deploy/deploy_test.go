// Package deploy applies the kustomize base in manifests/ to a real
// kube-apiserver (integration/kubeenv), with the prometheus-operator CRDs
// installed from manifests/testdata/crds.
package deploy

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/kubeenv"
	"github.com/nodeguard/nodeguard/manifests"
)

const fieldManager = "nodeguard-manifests-test"

// warnings records the API server's warning headers (Pod Security "warn"
// level among them).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

type applier struct {
	t      *testing.T
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// newApplier is an applier on the API server of cfg, with its dynamic client.
func newApplier(t *testing.T, cfg *rest.Config) (*applier, dynamic.Interface) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	return a, dyn
}

// apply server-side-applies one object with strict field validation, so a
// field the API server does not know is an error, not a silent drop.
func (a *applier) apply(ctx context.Context, doc []byte, dryRun bool) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, js, opts)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestManifestsApplyToARealAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	cfg := env.RESTConfig(t, env.Admin)
	warn := &warnings{}
	cfg.WarningHandler = warn
	a, dyn := newApplier(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	installCRDs(ctx, t, a, dyn)
	a.mapper.Reset()
	warn.take()

	docs, err := manifests.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Namespaced objects can be dry-run only into a namespace that exists.
	if _, err := a.apply(ctx, docs["Namespace/nodeguard"], false); err != nil {
		t.Fatalf("Namespace/nodeguard: %v", err)
	}
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	for _, dryRun := range []bool{true, false} {
		for _, k := range keys {
			if k == "Namespace/nodeguard" && !dryRun {
				continue // applied above
			}
			obj, err := a.apply(ctx, docs[k], dryRun)
			if err != nil {
				t.Errorf("apply %s (dry run %v): %v", k, dryRun, err)
				continue
			}
			w := warn.take()
			if k == "DaemonSet/nodeguard" {
				checkDaemonSet(t, obj, w)
			} else if len(w) > 0 {
				t.Errorf("apply %s: API server warnings %q", k, w)
			}
		}
	}
}

// installCRDs installs the prometheus-operator CRDs and waits until they are
// established.
func installCRDs(ctx context.Context, t *testing.T, a *applier, dyn dynamic.Interface) {
	t.Helper()
	// The prometheus-operator CRDs, generated from the API types the unit
	// tests decode with (see manifests/testdata/crds/README.md).
	crdDir := filepath.Join(repoRoot(t), "manifests", "testdata", "crds")
	crdFiles, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(crdFiles) != 2 {
		t.Fatalf("CRDs in %s: %v %v", crdDir, crdFiles, err)
	}
	var crdNames []string
	for _, f := range crdFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := a.apply(ctx, data, false)
		if err != nil {
			t.Fatalf("installing %s: %v", filepath.Base(f), err)
		}
		crdNames = append(crdNames, obj.GetName())
	}
	crdRes := dyn.Resource(crdGVR)
	for _, name := range crdNames {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd, err := crdRes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", name, err)
		}
	}
}

var crdGVR = mustGVR("apiextensions.k8s.io", "v1", "customresourcedefinitions")

// checkDaemonSet: what the API server stored keeps the security settings
// (nothing dropped as unknown), and Pod Security's "warn" level, live on the
// namespace, flags exactly why the namespace must enforce "privileged".
func checkDaemonSet(t *testing.T, obj *unstructured.Unstructured, warns []string) {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("stored DaemonSet has %d containers", len(containers))
	}
	c := containers[0].(map[string]any)
	add, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "add")
	slices.Sort(add)
	if want := []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"}; !slices.Equal(add, want) {
		t.Errorf("stored capabilities %v, want %v", add, want)
	}
	if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
		t.Error("stored DaemonSet lost readOnlyRootFilesystem")
	}
	if hostPID, _, _ := unstructured.NestedBool(obj.Object, "spec", "template", "spec", "hostPID"); !hostPID {
		t.Error("stored DaemonSet lost hostPID")
	}
	t.Logf("API server warnings for the DaemonSet: %q", warns)
	all := strings.Join(warns, "\n")
	for _, want := range []string{`would violate PodSecurity "baseline:latest"`, "hostPID=true", "hostPath volumes", "non-default capabilities"} {
		if !strings.Contains(all, want) {
			t.Errorf("API server warnings %q do not contain %q", warns, want)
		}
	}
}

func mustGVR(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}
