package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// The kubeadm control-plane fixture is shared with the kubelet probe.
const fixture = "../kubelet/testdata/kubeadm-control-plane"

func env(t testing.TB, dir string, role probes.Role) *probes.Env {
	t.Helper()
	r, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &probes.Env{Root: r, Policy: policy.Default(), Role: role}
}

func TestKubeadmControlPlane(t *testing.T) {
	dir := probetest.CopyTree(t, fixture)
	// Make the static pod manifests and kubeconfigs root-only as kubeadm does.
	for _, p := range []string{"manifests/kube-apiserver.yaml", "manifests/etcd.yaml", "admin.conf", "pki/ca.key"} {
		if err := os.Chmod(filepath.Join(dir, "etc/kubernetes", p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]finding.Finding{}
	for _, f := range (&Probe{}).Run(context.Background(), env(t, dir, probes.ControlPlane)) {
		if f.Status == finding.Error {
			t.Errorf("error finding %s: %s", f.ID, f.Message)
		}
		key := f.ID + " " + f.Evidence.Get("file")
		got[key] = f
		if _, ok := got[f.ID]; !ok {
			got[f.ID] = f
		}
	}
	const P, F = finding.Pass, finding.Fail
	want := map[string]finding.Status{
		"controlplane.apiserver.anonymous-auth":             F, // default true: kubeadm does not set it
		"controlplane.apiserver.authorization-always-allow": P,
		"controlplane.apiserver.authorization-node":         P,
		"controlplane.apiserver.authorization-rbac":         P,
		"controlplane.apiserver.insecure-port":              P,
		"controlplane.apiserver.profiling":                  F,
		"controlplane.apiserver.audit-log":                  F,
		"controlplane.apiserver.encryption-provider":        F,
		"controlplane.apiserver.kubelet-client-cert":        P,
		"controlplane.apiserver.kubelet-ca":                 F,
		"controlplane.apiserver.tls-cert":                   P,
		"controlplane.apiserver.tls-cipher-suites":          F,
		"controlplane.etcd.client-cert-auth":                P,
		"controlplane.etcd.peer-client-cert-auth":           P,
		"controlplane.etcd.peer-tls":                        P,
		"controlplane.etcd.auto-tls":                        P,
		"controlplane.scheduler.bind-address":               P,
		"controlplane.controller-manager.bind-address":      P,
		"controlplane.scheduler.profiling":                  F,
		"controlplane.kube-apiserver-manifest-permissions /etc/kubernetes/manifests/kube-apiserver.yaml": P,
		"controlplane.kube-scheduler-manifest-permissions /etc/kubernetes/manifests/kube-scheduler.yaml": F,
		"controlplane.kubeconfig-permissions /etc/kubernetes/admin.conf":                                 P,
		"controlplane.kubeconfig-permissions /etc/kubernetes/scheduler.conf":                             F,
		"controlplane.pki-key-permissions /etc/kubernetes/pki/ca.key":                                    P,
		"controlplane.pki-key-permissions /etc/kubernetes/pki/apiserver.key":                             F,
		"controlplane.pki-cert-permissions /etc/kubernetes/pki/etcd/ca.crt":                              P, // CIS 1.1.20: 644 or more restrictive
	}
	for id, st := range want {
		f, ok := got[id]
		if !ok {
			t.Errorf("%s: no finding", id)
			continue
		}
		if f.Status != st {
			t.Errorf("%s: %s, want %s (%s)", id, f.Status, st, f.Message)
		}
	}
	if src := got["controlplane.apiserver.anonymous-auth"].Evidence.Get("anonymous-auth.source"); !strings.Contains(src, "default") {
		t.Errorf("anonymous-auth source %q should name the default", src)
	}
}

func TestWorkerSkips(t *testing.T) {
	fs := (&Probe{}).Run(context.Background(), env(t, t.TempDir(), probes.Worker))
	if len(fs) != 1 || fs[0].Status != finding.Skip {
		t.Fatalf("want one skip, got %+v", fs)
	}
}

func TestBadManifests(t *testing.T) {
	for name, body := range map[string]string{
		"malformed":    "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n",
		"wrong kind":   "apiVersion: apps/v1\nkind: Deployment\n",
		"binary":       "\x00\xff\xfe",
		"no container": "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: other\n    command: [other]\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "etc/kubernetes/manifests/etcd.yaml")
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			var errs int
			for _, f := range (&Probe{}).Run(context.Background(), env(t, dir, probes.ControlPlane)) {
				if f.Status == finding.Error {
					errs++
					if !strings.Contains(f.Message, "/etc/kubernetes/manifests/etcd.yaml") {
						t.Errorf("message %q does not name the manifest", f.Message)
					}
				}
				if strings.HasPrefix(f.ID, "controlplane.etcd.") && f.Status == finding.Pass {
					t.Errorf("%s passed on a broken manifest", f.ID)
				}
			}
			if errs != 1 {
				t.Errorf("want one error finding, got %d", errs)
			}
		})
	}
}

// BenchmarkKubeletAndControlPlane runs both probes on the kubeadm
// control-plane fixture, as one scan of such a node does.
func BenchmarkKubeletAndControlPlane(b *testing.B) {
	e := env(b, probetest.CopyTree(b, fixture), probes.ControlPlane)
	ps := []probes.Probe{&kubelet.Probe{}, &Probe{}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range ps {
			if len(p.Run(ctx, e)) == 0 {
				b.Fatal("no findings")
			}
		}
	}
}

// TestKubeadmTrees judges the stock kubeadm trees (integration/kubeadm/tree.sh)
// and compares every verdict with the reviewed expectations.
func TestKubeadmTrees(t *testing.T) {
	data, err := os.ReadFile("testdata/kubeadm-expectations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]finding.Status
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for tree, role := range map[string]probes.Role{"control-plane": probes.ControlPlane, "worker": probes.Worker} {
		t.Run(tree, func(t *testing.T) {
			exp := want[tree]
			if len(exp) == 0 {
				t.Fatalf("no expectations for %s", tree)
			}
			seen := map[string]bool{}
			dir := probetest.CopyTree(t, "testdata/kubeadm-"+tree)
			for _, f := range (&Probe{}).Run(context.Background(), env(t, dir, role)) {
				seen[f.ID] = true
				st, ok := exp[f.ID]
				switch {
				case !ok:
					t.Errorf("%s %s: %s (%s) has no reviewed expectation", f.ID, f.Evidence.Get("file"), f.Status, f.Message)
				case f.Status != st:
					t.Errorf("%s %s: %s, want %s (%s)", f.ID, f.Evidence.Get("file"), f.Status, st, f.Message)
				}
			}
			for id := range exp {
				if !seen[id] {
					t.Errorf("%s: expected, but no finding", id)
				}
			}
		})
	}
}

func writeManifest(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, "etc/kubernetes/manifests", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openRoot(t *testing.T, dir string) *hostfs.Root {
	t.Helper()
	r, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
