// Package controlplane audits a control-plane node's static pods (CIS
// Kubernetes section 1): the flags of kube-apiserver, etcd, kube-scheduler
// and kube-controller-manager as their manifests in /etc/kubernetes/manifests
// run them, and the permissions of the manifests, kubeconfigs and PKI files.
package controlplane

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Name is the probe's id.
const Name = "controlplane"

const manifestDir = "/etc/kubernetes/manifests"

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is stateless.
type Probe struct{}

func (*Probe) Name() string { return Name }

func cis(id string) string { return "CIS Kubernetes " + id }

// component is one static pod and the CIS ids of its manifest checks.
type component struct {
	name            string // container/binary name, also the manifest's base name
	modeRef, ownRef string
	checks          []flagCheck
}

// flagCheck judges one flag's effective value ("" when not given: the
// component's default, noted in def).
type flagCheck struct {
	id, ref, title string
	sev            finding.Severity
	flag           string
	def            string // the binary's default when the flag is absent
	ok             func(v string, set bool, flags map[string]string) bool
	fix            string
}

func equals(want string) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, _ map[string]string) bool { return v == want }
}
func nonEmpty(v string, _ bool, _ map[string]string) bool { return v != "" }
func notTrue(v string, _ bool, _ map[string]string) bool  { return v != "true" }
func listHas(item string) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, _ map[string]string) bool { return slices.Contains(strings.Split(v, ","), item) }
}
func loopback(v string, _ bool, _ map[string]string) bool {
	return v == "127.0.0.1" || v == "::1" || v == "localhost"
}

var strongCiphers = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
}

func strongOnly(v string, _ bool, _ map[string]string) bool {
	if v == "" {
		return false
	}
	for _, c := range strings.Split(v, ",") {
		if !slices.Contains(strongCiphers, strings.TrimSpace(c)) {
			return false
		}
	}
	return true
}

var components = []component{
	{name: "kube-apiserver", modeRef: "1.1.1", ownRef: "1.1.2", checks: []flagCheck{
		{id: "apiserver.anonymous-auth", ref: "1.2.1", sev: finding.High, title: "kube-apiserver anonymous authentication", flag: "anonymous-auth", def: "true", ok: equals("false"), fix: "--anonymous-auth=false"},
		{id: "apiserver.kubelet-client-cert", ref: "1.2.4", sev: finding.High, title: "kube-apiserver kubelet client certificate", flag: "kubelet-client-certificate", ok: func(v string, _ bool, f map[string]string) bool { return v != "" && f["kubelet-client-key"] != "" }, fix: "--kubelet-client-certificate and --kubelet-client-key"},
		{id: "apiserver.kubelet-ca", ref: "1.2.5", sev: finding.High, title: "kube-apiserver verifies kubelet serving certificates", flag: "kubelet-certificate-authority", ok: nonEmpty, fix: "--kubelet-certificate-authority"},
		{id: "apiserver.authorization-always-allow", ref: "1.2.6", sev: finding.Critical, title: "kube-apiserver authorization is not AlwaysAllow", flag: "authorization-mode", def: "AlwaysAllow", ok: func(v string, _ bool, _ map[string]string) bool {
			return !slices.Contains(strings.Split(v, ","), "AlwaysAllow")
		}, fix: "--authorization-mode=Node,RBAC"},
		{id: "apiserver.authorization-node", ref: "1.2.7", sev: finding.High, title: "kube-apiserver Node authorizer", flag: "authorization-mode", def: "AlwaysAllow", ok: listHas("Node"), fix: "--authorization-mode=Node,RBAC"},
		{id: "apiserver.authorization-rbac", ref: "1.2.8", sev: finding.High, title: "kube-apiserver RBAC authorizer", flag: "authorization-mode", def: "AlwaysAllow", ok: listHas("RBAC"), fix: "--authorization-mode=Node,RBAC"},
		{id: "apiserver.insecure-port", ref: "1.2.19 (v1.6.0)", sev: finding.Critical, title: "kube-apiserver insecure port", flag: "insecure-port", def: "0", ok: equals("0"), fix: "remove --insecure-port"},
		{id: "apiserver.profiling", ref: "1.2.15", sev: finding.Medium, title: "kube-apiserver profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "apiserver.audit-log", ref: "1.2.16", sev: finding.Medium, title: "kube-apiserver audit log", flag: "audit-log-path", ok: nonEmpty, fix: "--audit-log-path=/var/log/kubernetes/audit/audit.log"},
		{id: "apiserver.audit-policy", ref: "3.2.1", sev: finding.Medium, title: "kube-apiserver audit policy", flag: "audit-policy-file", ok: nonEmpty, fix: "--audit-policy-file=/etc/kubernetes/audit-policy.yaml"},
		{id: "apiserver.tls-cert", ref: "1.2.24", sev: finding.High, title: "kube-apiserver TLS certificate", flag: "tls-cert-file", ok: func(v string, _ bool, f map[string]string) bool { return v != "" && f["tls-private-key-file"] != "" }, fix: "--tls-cert-file and --tls-private-key-file"},
		{id: "apiserver.encryption-provider", ref: "1.2.27", sev: finding.High, title: "kube-apiserver encrypts Secrets at rest", flag: "encryption-provider-config", ok: nonEmpty, fix: "--encryption-provider-config with an aescbc, aesgcm, secretbox or kms provider"},
		{id: "apiserver.tls-cipher-suites", ref: "1.2.29", sev: finding.Medium, title: "kube-apiserver TLS cipher suites", flag: "tls-cipher-suites", ok: strongOnly, fix: "--tls-cipher-suites=" + strings.Join(strongCiphers[:6], ",")},
	}},
	{name: "kube-controller-manager", modeRef: "1.1.3", ownRef: "1.1.4", checks: []flagCheck{
		{id: "controller-manager.profiling", ref: "1.3.2", sev: finding.Medium, title: "kube-controller-manager profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "controller-manager.bind-address", ref: "1.3.7", sev: finding.Medium, title: "kube-controller-manager bind address", flag: "bind-address", def: "0.0.0.0", ok: loopback, fix: "--bind-address=127.0.0.1"},
	}},
	{name: "kube-scheduler", modeRef: "1.1.5", ownRef: "1.1.6", checks: []flagCheck{
		{id: "scheduler.profiling", ref: "1.4.1", sev: finding.Medium, title: "kube-scheduler profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "scheduler.bind-address", ref: "1.4.2", sev: finding.Medium, title: "kube-scheduler bind address", flag: "bind-address", def: "0.0.0.0", ok: loopback, fix: "--bind-address=127.0.0.1"},
	}},
	{name: "etcd", modeRef: "1.1.7", ownRef: "1.1.8", checks: []flagCheck{
		{id: "etcd.tls", ref: "2.1", sev: finding.High, title: "etcd client TLS", flag: "cert-file", ok: func(v string, _ bool, f map[string]string) bool { return v != "" && f["key-file"] != "" }, fix: "--cert-file and --key-file"},
		{id: "etcd.client-cert-auth", ref: "2.2", sev: finding.Critical, title: "etcd client certificate authentication", flag: "client-cert-auth", def: "false", ok: equals("true"), fix: "--client-cert-auth=true"},
		{id: "etcd.auto-tls", ref: "2.3", sev: finding.High, title: "etcd self-signed client TLS", flag: "auto-tls", def: "false", ok: notTrue, fix: "remove --auto-tls"},
		{id: "etcd.peer-tls", ref: "2.4", sev: finding.High, title: "etcd peer TLS", flag: "peer-cert-file", ok: func(v string, _ bool, f map[string]string) bool { return v != "" && f["peer-key-file"] != "" }, fix: "--peer-cert-file and --peer-key-file"},
		{id: "etcd.peer-client-cert-auth", ref: "2.5", sev: finding.High, title: "etcd peer certificate authentication", flag: "peer-client-cert-auth", def: "false", ok: equals("true"), fix: "--peer-client-cert-auth=true"},
		{id: "etcd.peer-auto-tls", ref: "2.6", sev: finding.High, title: "etcd self-signed peer TLS", flag: "peer-auto-tls", def: "false", ok: notTrue, fix: "remove --peer-auto-tls"},
	}},
}

// staticPod is the part of a Pod manifest the checks read.
type staticPod struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Containers []struct {
			Name    string   `json:"name"`
			Command []string `json:"command"`
			Args    []string `json:"args"`
		} `json:"containers"`
	} `json:"spec"`
}

// readFlags returns the flags of the component's container, last value wins.
func readFlags(root *hostfs.Root, p, name string) (map[string]string, error) {
	data, err := root.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("static pod manifest: %w", err)
	}
	var pod staticPod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("static pod manifest %s: %w", p, err)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" {
		return nil, fmt.Errorf("static pod manifest %s: is %s %s, want v1 Pod", p, pod.APIVersion, pod.Kind)
	}
	for _, c := range pod.Spec.Containers {
		argv := append(slices.Clone(c.Command), c.Args...)
		if c.Name != name && (len(argv) == 0 || path.Base(argv[0]) != name) {
			continue
		}
		return parseFlags(argv), nil
	}
	return nil, fmt.Errorf("static pod manifest %s: no %s container", p, name)
}

func parseFlags(argv []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a, ok := strings.CutPrefix(argv[i], "--")
		if !ok {
			continue
		}
		k, v, hasVal := strings.Cut(a, "=")
		if !hasVal {
			v = "true"
			if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
				v, i = argv[i+1], i+1
			}
		}
		flags[k] = v
	}
	return flags
}

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	if env.Role != probes.ControlPlane {
		f := catalog.Get("controlplane.role").Finding(finding.Skip, "the control-plane checks apply to control-plane nodes only")
		f.Title, f.Evidence["role"] = "Not a control-plane node", string(env.Role)
		return []finding.Finding{f}
	}
	var out []finding.Finding
	for _, c := range components {
		p := path.Join(manifestDir, c.name+".yaml")
		if !env.Root.Exists(p) {
			// The skip cites the manifest's permission check, which it stands
			// in for, rather than the input entry's section reference.
			f := catalog.Get("controlplane."+c.name).Finding(finding.Skip, p+" does not exist (the component may run elsewhere)")
			f.Severity, f.Title, f.Remediation = finding.Info, c.name+" has no static pod", ""
			f.References = catalog.Get("controlplane." + c.name + "-manifest-permissions").Refs()
			f.Evidence["file"] = p
			out = append(out, f)
			continue
		}
		out = append(out, kubelet.CheckFile(env.Root, kubelet.FileCheck{ID: "controlplane." + c.name + "-manifest",
			What: c.name + " manifest", Path: p, MaxMode: 0o600})...)
		flags, err := readFlags(env.Root, p, c.name)
		if err != nil {
			f := finding.ErrorFinding(Name, "controlplane."+c.name, c.name+" manifest could not be read", err)
			f.References = catalog.Get("controlplane." + c.name).Refs()
			out = append(out, f)
			continue
		}
		for _, fc := range c.checks {
			out = append(out, judge(c.name, p, fc, flags))
		}
	}
	return append(out, fileChecks(env.Root)...)
}

func judge(comp, manifest string, fc flagCheck, flags map[string]string) finding.Finding {
	v, set := flags[fc.flag]
	src := "flag --" + fc.flag + " in " + manifest
	if !set {
		v, src = fc.def, comp+" default (flag not set)"
	}
	shown := v
	if shown == "" {
		shown = `""`
	}
	f := catalog.Get("controlplane."+fc.id).Finding(finding.Fail, fmt.Sprintf("%s --%s is %s (%s)", comp, fc.flag, shown, src))
	f.Evidence = map[string]string{"manifest": manifest, fc.flag: v, fc.flag + ".source": src}
	f.Remediation = fmt.Sprintf(f.Remediation, manifest)
	if fc.ok(v, set, flags) {
		f.Status, f.Remediation = finding.Pass, ""
	}
	return f
}

// kubeconfigs are the control plane's kubeconfig files, each with its own
// CIS ids under the one pair of checks.
var kubeconfigs = []struct{ file, mode, own string }{
	{"/etc/kubernetes/admin.conf", "1.1.13", "1.1.14"},
	{"/etc/kubernetes/super-admin.conf", "1.1.13", "1.1.14"},
	{"/etc/kubernetes/scheduler.conf", "1.1.15", "1.1.16"},
	{"/etc/kubernetes/controller-manager.conf", "1.1.17", "1.1.18"},
}

// fileChecks are CIS 1.1.13-1.1.21: kubeconfigs and PKI.
func fileChecks(root *hostfs.Root) []finding.Finding {
	var out []finding.Finding
	for _, k := range kubeconfigs {
		out = append(out, kubelet.CheckFile(root, kubelet.FileCheck{ID: "controlplane.kubeconfig", What: whatKubeconfig,
			Path: k.file, MaxMode: 0o600, ModeRef: cis(k.mode), OwnerRef: cis(k.own), Optional: true})...)
	}
	for _, pat := range []struct{ glob, id string }{
		{"/etc/kubernetes/pki/*.crt", "controlplane.pki-cert"},
		{"/etc/kubernetes/pki/etcd/*.crt", "controlplane.pki-cert"},
		{"/etc/kubernetes/pki/*.key", "controlplane.pki-key"},
		{"/etc/kubernetes/pki/etcd/*.key", "controlplane.pki-key"},
	} {
		files, err := root.Glob(pat.glob)
		if err != nil {
			out = append(out, finding.ErrorFinding(Name, pat.id+"-permissions", "PKI files could not be listed", err))
			continue
		}
		for _, f := range files {
			out = append(out, kubelet.CheckFile(root, kubelet.FileCheck{ID: pat.id, What: "PKI file", Path: f, MaxMode: 0o600})...)
		}
	}
	return out
}
