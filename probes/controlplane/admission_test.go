package controlplane

import (
	"slices"
	"testing"
)

// The generated tables cover the supported minors, and what CIS 1.2.10-1.2.14
// rely on holds in each: ServiceAccount and NamespaceLifecycle on by
// default, NodeRestriction and AlwaysAdmit off.
func TestAdmissionTables(t *testing.T) {
	for m := 31; m <= 37; m++ {
		tb, ok := admissionTables()[m]
		if !ok {
			t.Fatalf("no table for v1.%d", m)
		}
		for _, p := range []string{"ServiceAccount", "NamespaceLifecycle"} {
			if !slices.Contains(tb.defaults, p) {
				t.Errorf("v1.%d: %s not on by default", m, p)
			}
		}
		for _, p := range []string{"NodeRestriction", "AlwaysAdmit"} {
			if slices.Contains(tb.defaults, p) || !slices.Contains(tb.known, p) {
				t.Errorf("v1.%d: %s on by default or unknown", m, p)
			}
		}
	}
}

func TestImageMinor(t *testing.T) {
	for img, want := range map[string]int{
		"registry.example/kube-apiserver:v1.34.4":              34,
		"localhost:5000/kube-apiserver:v1.37.2-rc.0":           37,
		"registry.example/kube-apiserver@sha256:0123":          0,
		"registry.example/kube-apiserver:v1.33.1@sha256:01234": 33,
		"registry.example/kube-apiserver:latest":               0,
	} {
		if got := (&pod{image: img}).minor(); got != want {
			t.Errorf("%s: minor %d, want %d", img, got, want)
		}
	}
}

func TestAdmissionFlags(t *testing.T) {
	pd := &pod{image: "x/kube-apiserver:v1.37.2", flags: map[string]string{
		"enable-admission-plugins":  "AlwaysAdmit, NodeRestriction",
		"disable-admission-plugins": "ServiceAccount,AlwaysAdmit",
	}}
	a, err := effectiveAdmission(nil, pd)
	if err != nil {
		t.Fatal(err)
	}
	// The API server refuses to start with a plugin in both lists; judged off.
	if a.enabled["AlwaysAdmit"] || a.enabled["ServiceAccount"] || !a.on("NodeRestriction") || !a.on("NamespaceLifecycle") {
		t.Errorf("effective set %s", a.list())
	}
}

func TestEtcdEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, "etcd.yaml", `apiVersion: v1
kind: Pod
spec:
  containers:
  - name: etcd
    command: [etcd, --client-cert-auth=true]
    env:
    - {name: ETCD_CLIENT_CERT_AUTH, value: "false"}
    - {name: ETCD_PEER_AUTO_TLS, value: "true"}
    - {name: ETCD_CERT_FILE, valueFrom: {secretKeyRef: {name: s, key: k}}}
`)
	pd, err := readPod(openRoot(t, dir), "/etc/kubernetes/manifests/etcd.yaml", "etcd")
	if err != nil {
		t.Fatal(err)
	}
	if pd.flags["client-cert-auth"] != "true" || pd.flags["peer-auto-tls"] != "true" {
		t.Errorf("flags %v: the flag must win over the environment, the environment fill the rest", pd.flags)
	}
	if _, ok := pd.flags["cert-file"]; ok {
		t.Errorf("a valueFrom variable cannot be read and must not count")
	}
}
