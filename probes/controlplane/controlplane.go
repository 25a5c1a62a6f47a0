// Package controlplane audits a control-plane node's static pods (CIS
// Kubernetes section 1): the flags of kube-apiserver, etcd, kube-scheduler
// and kube-controller-manager as their manifests in /etc/kubernetes/manifests
// run them, and the permissions of the manifests, kubeconfigs and PKI files.
package controlplane

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "controlplane"

const manifestDir = "/etc/kubernetes/manifests"

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is stateless.
type Probe struct{}

func (*Probe) Name() string { return Name }

// benchmark is the CIS Kubernetes Benchmark version every reference names.
const benchmark = "CIS Kubernetes v1.12 "

func cis(id string) string { return benchmark + id }

// component is one static pod and the CIS ids of its manifest checks.
type component struct {
	name            string // container/binary name, also the manifest's base name
	modeRef, ownRef string
	checks          []flagCheck
}

// flagCheck judges one flag's effective value ("" when not given: the
// component's default, noted in def), or, with computed set, a value derived
// from several flags and files (authorizers, admission plugins).
type flagCheck struct {
	id, ref, title string
	sev            finding.Severity
	flag           string
	def            string // the binary's default when the flag is absent
	ok             func(v string, set bool, flags map[string]string) bool
	computed       func(in *apiInputs) (ok bool, value, source string, err error)
	fix            string
}

func equals(want string) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, _ map[string]string) bool { return v == want }
}
func nonEmpty(v string, _ bool, _ map[string]string) bool { return v != "" }
func notTrue(v string, _ bool, _ map[string]string) bool  { return v != "true" }
func notSet(_ string, set bool, _ map[string]string) bool { return !set }
func loopback(v string, _ bool, _ map[string]string) bool {
	return v == "127.0.0.1" || v == "::1" || v == "localhost"
}

// atLeast passes a whole number of at least n ("or as appropriate" in CIS
// means a site may choose more, never less).
func atLeast(n int) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, _ map[string]string) bool {
		i, err := strconv.Atoi(v)
		return err == nil && i >= n
	}
}

// both passes when the flag and its pair are set.
func both(other string) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, f map[string]string) bool { return v != "" && f[other] != "" }
}

// gateNotOff passes unless --feature-gates turns the gate off (every
// supported release has it on by default).
func gateNotOff(gate string) func(string, bool, map[string]string) bool {
	return func(v string, _ bool, _ map[string]string) bool {
		for _, kv := range splitList(v) {
			k, val, _ := strings.Cut(kv, "=")
			if strings.TrimSpace(k) == gate && strings.EqualFold(strings.TrimSpace(val), "false") {
				return false
			}
		}
		return true
	}
}

// apiInputs are what the computed kube-apiserver checks read, each read once.
type apiInputs struct {
	authz    []string
	authzSrc string
	authzErr error
	adm      *admission
	admErr   error
}

func authzCheck(ok func(modes []string) bool) func(*apiInputs) (bool, string, string, error) {
	return func(in *apiInputs) (bool, string, string, error) {
		return ok(in.authz), joinModes(in.authz), in.authzSrc, in.authzErr
	}
}

// admissionOn and admissionOff judge one plugin in the effective set; the
// whole set is evidence.
func admissionOn(p string) func(*apiInputs) (bool, string, string, error) {
	return func(in *apiInputs) (bool, string, string, error) {
		if in.admErr != nil {
			return false, "", "", in.admErr
		}
		return in.adm.on(p), p + " " + in.adm.state(p), in.adm.basis, nil
	}
}
func admissionOff(p string) func(*apiInputs) (bool, string, string, error) {
	return func(in *apiInputs) (bool, string, string, error) {
		if in.admErr != nil {
			return false, "", "", in.admErr
		}
		return !in.adm.enabled[p], p + " " + in.adm.state(p), in.adm.basis, nil
	}
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
		{id: "apiserver.token-auth-file", ref: "1.2.2", sev: finding.High, title: "kube-apiserver static token file", flag: "token-auth-file", ok: notSet, fix: "no --token-auth-file (use bootstrap tokens, service account tokens or OIDC)"},
		{id: "apiserver.kubelet-client-cert", ref: "1.2.4", sev: finding.High, title: "kube-apiserver kubelet client certificate", flag: "kubelet-client-certificate", ok: both("kubelet-client-key"), fix: "--kubelet-client-certificate and --kubelet-client-key"},
		{id: "apiserver.kubelet-ca", ref: "1.2.5", sev: finding.High, title: "kube-apiserver verifies kubelet serving certificates", flag: "kubelet-certificate-authority", ok: nonEmpty, fix: "--kubelet-certificate-authority"},
		{id: "apiserver.authorization-always-allow", ref: "1.2.6", sev: finding.Critical, title: "kube-apiserver authorization is not AlwaysAllow", flag: "authorization-mode", computed: authzCheck(func(m []string) bool { return !slices.Contains(m, "AlwaysAllow") }), fix: "--authorization-mode=Node,RBAC (or Node and RBAC authorizers in --authorization-config)"},
		{id: "apiserver.authorization-node", ref: "1.2.7", sev: finding.High, title: "kube-apiserver Node authorizer", flag: "authorization-mode", computed: authzCheck(func(m []string) bool { return slices.Contains(m, "Node") }), fix: "--authorization-mode=Node,RBAC (or a Node authorizer in --authorization-config)"},
		{id: "apiserver.authorization-rbac", ref: "1.2.8", sev: finding.High, title: "kube-apiserver RBAC authorizer", flag: "authorization-mode", computed: authzCheck(func(m []string) bool { return slices.Contains(m, "RBAC") }), fix: "--authorization-mode=Node,RBAC (or an RBAC authorizer in --authorization-config)"},
		{id: "apiserver.admission-always-admit", ref: "1.2.10", sev: finding.High, title: "kube-apiserver admission plugin AlwaysAdmit", flag: "enable-admission-plugins", computed: admissionOff("AlwaysAdmit"), fix: "AlwaysAdmit out of --enable-admission-plugins"},
		{id: "apiserver.admission-service-account", ref: "1.2.12", sev: finding.High, title: "kube-apiserver admission plugin ServiceAccount", flag: "enable-admission-plugins", computed: admissionOn("ServiceAccount"), fix: "ServiceAccount out of --disable-admission-plugins"},
		{id: "apiserver.admission-namespace-lifecycle", ref: "1.2.13", sev: finding.Medium, title: "kube-apiserver admission plugin NamespaceLifecycle", flag: "enable-admission-plugins", computed: admissionOn("NamespaceLifecycle"), fix: "NamespaceLifecycle out of --disable-admission-plugins"},
		{id: "apiserver.admission-node-restriction", ref: "1.2.14", sev: finding.High, title: "kube-apiserver admission plugin NodeRestriction", flag: "enable-admission-plugins", computed: admissionOn("NodeRestriction"), fix: "--enable-admission-plugins=NodeRestriction (with --authorization-mode including Node)"},
		{id: "apiserver.insecure-port", ref: "", sev: finding.Critical, title: "kube-apiserver insecure port", flag: "insecure-port", def: "0", ok: equals("0"), fix: "remove --insecure-port"},
		{id: "apiserver.profiling", ref: "1.2.15", sev: finding.Medium, title: "kube-apiserver profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "apiserver.audit-log", ref: "1.2.16", sev: finding.Medium, title: "kube-apiserver audit log", flag: "audit-log-path", ok: nonEmpty, fix: "--audit-log-path=/var/log/kubernetes/audit/audit.log"},
		{id: "apiserver.audit-log-maxage", ref: "1.2.17", sev: finding.Low, title: "kube-apiserver audit log retention (days)", flag: "audit-log-maxage", def: "0", ok: atLeast(30), fix: "--audit-log-maxage=30 or more"},
		{id: "apiserver.audit-log-maxbackup", ref: "1.2.18", sev: finding.Low, title: "kube-apiserver audit log retention (files)", flag: "audit-log-maxbackup", def: "0", ok: atLeast(10), fix: "--audit-log-maxbackup=10 or more"},
		{id: "apiserver.audit-log-maxsize", ref: "1.2.19", sev: finding.Low, title: "kube-apiserver audit log rotation size (MB)", flag: "audit-log-maxsize", def: "0", ok: atLeast(100), fix: "--audit-log-maxsize=100 or more"},
		{id: "apiserver.audit-policy", ref: "3.2.1", sev: finding.Medium, title: "kube-apiserver audit policy", flag: "audit-policy-file", ok: nonEmpty, fix: "--audit-policy-file=/etc/kubernetes/audit-policy.yaml"},
		{id: "apiserver.service-account-lookup", ref: "1.2.21", sev: finding.Medium, title: "kube-apiserver checks service account tokens against etcd", flag: "service-account-lookup", def: "true", ok: equals("true"), fix: "remove --service-account-lookup=false"},
		{id: "apiserver.service-account-key", ref: "1.2.22", sev: finding.Medium, title: "kube-apiserver service account verification key", flag: "service-account-key-file", ok: nonEmpty, fix: "--service-account-key-file to the public key of --service-account-signing-key-file"},
		{id: "apiserver.etcd-client-cert", ref: "1.2.23", sev: finding.High, title: "kube-apiserver etcd client certificate", flag: "etcd-certfile", ok: both("etcd-keyfile"), fix: "--etcd-certfile and --etcd-keyfile"},
		{id: "apiserver.tls-cert", ref: "1.2.24", sev: finding.High, title: "kube-apiserver TLS certificate", flag: "tls-cert-file", ok: both("tls-private-key-file"), fix: "--tls-cert-file and --tls-private-key-file"},
		{id: "apiserver.client-ca", ref: "1.2.25", sev: finding.High, title: "kube-apiserver client certificate authority", flag: "client-ca-file", ok: nonEmpty, fix: "--client-ca-file"},
		{id: "apiserver.etcd-ca", ref: "1.2.26", sev: finding.High, title: "kube-apiserver verifies etcd's certificate", flag: "etcd-cafile", ok: nonEmpty, fix: "--etcd-cafile"},
		{id: "apiserver.encryption-provider", ref: "1.2.27", sev: finding.High, title: "kube-apiserver encrypts Secrets at rest", flag: "encryption-provider-config", ok: nonEmpty, fix: "--encryption-provider-config with an aescbc, aesgcm, secretbox or kms provider"},
		{id: "apiserver.tls-cipher-suites", ref: "1.2.29", sev: finding.Medium, title: "kube-apiserver TLS cipher suites", flag: "tls-cipher-suites", ok: strongOnly, fix: "--tls-cipher-suites=" + strings.Join(strongCiphers[:6], ",")},
		{id: "apiserver.service-account-extend-token-expiration", ref: "1.2.30", sev: finding.Low, title: "kube-apiserver does not extend service account token lifetimes", flag: "service-account-extend-token-expiration", def: "true", ok: equals("false"), fix: "--service-account-extend-token-expiration=false"},
	}},
	{name: "kube-controller-manager", modeRef: "1.1.3", ownRef: "1.1.4", checks: []flagCheck{
		{id: "controller-manager.profiling", ref: "1.3.2", sev: finding.Medium, title: "kube-controller-manager profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "controller-manager.service-account-credentials", ref: "1.3.3", sev: finding.Medium, title: "kube-controller-manager uses a service account per controller", flag: "use-service-account-credentials", def: "false", ok: equals("true"), fix: "--use-service-account-credentials=true"},
		{id: "controller-manager.service-account-key", ref: "1.3.4", sev: finding.High, title: "kube-controller-manager service account signing key", flag: "service-account-private-key-file", ok: nonEmpty, fix: "--service-account-private-key-file"},
		{id: "controller-manager.root-ca", ref: "1.3.5", sev: finding.Medium, title: "kube-controller-manager root CA for service account tokens", flag: "root-ca-file", ok: nonEmpty, fix: "--root-ca-file"},
		{id: "controller-manager.rotate-kubelet-server-cert", ref: "1.3.6", sev: finding.Medium, title: "kube-controller-manager RotateKubeletServerCertificate", flag: "feature-gates", ok: gateNotOff("RotateKubeletServerCertificate"), fix: "RotateKubeletServerCertificate=true (or not set) in --feature-gates"},
		{id: "controller-manager.bind-address", ref: "1.3.7", sev: finding.Medium, title: "kube-controller-manager bind address", flag: "bind-address", def: "0.0.0.0", ok: loopback, fix: "--bind-address=127.0.0.1"},
	}},
	{name: "kube-scheduler", modeRef: "1.1.5", ownRef: "1.1.6", checks: []flagCheck{
		{id: "scheduler.profiling", ref: "1.4.1", sev: finding.Medium, title: "kube-scheduler profiling", flag: "profiling", def: "true", ok: equals("false"), fix: "--profiling=false"},
		{id: "scheduler.bind-address", ref: "1.4.2", sev: finding.Medium, title: "kube-scheduler bind address", flag: "bind-address", def: "0.0.0.0", ok: loopback, fix: "--bind-address=127.0.0.1"},
	}},
	{name: "etcd", modeRef: "1.1.7", ownRef: "1.1.8", checks: []flagCheck{
		{id: "etcd.tls", ref: "2.1", sev: finding.High, title: "etcd client TLS", flag: "cert-file", ok: both("key-file"), fix: "--cert-file and --key-file"},
		{id: "etcd.client-cert-auth", ref: "2.2", sev: finding.Critical, title: "etcd client certificate authentication", flag: "client-cert-auth", def: "false", ok: equals("true"), fix: "--client-cert-auth=true"},
		{id: "etcd.auto-tls", ref: "2.3", sev: finding.High, title: "etcd self-signed client TLS", flag: "auto-tls", def: "false", ok: notTrue, fix: "remove --auto-tls"},
		{id: "etcd.peer-tls", ref: "2.4", sev: finding.High, title: "etcd peer TLS", flag: "peer-cert-file", ok: both("peer-key-file"), fix: "--peer-cert-file and --peer-key-file"},
		{id: "etcd.peer-client-cert-auth", ref: "2.5", sev: finding.High, title: "etcd peer certificate authentication", flag: "peer-client-cert-auth", def: "false", ok: equals("true"), fix: "--peer-client-cert-auth=true"},
		{id: "etcd.peer-auto-tls", ref: "2.6", sev: finding.High, title: "etcd self-signed peer TLS", flag: "peer-auto-tls", def: "false", ok: notTrue, fix: "remove --peer-auto-tls"},
	}},
}

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	if env.NodeRole() != probes.ControlPlane {
		f := catalog.Get("controlplane.role").Finding(finding.Skip, "the control-plane checks apply to control-plane nodes only")
		f.Title = "Not a control-plane node"
		f.Evidence.Set("role", string(env.NodeRole()))
		return []finding.Finding{f}
	}
	pol := policy.Section[Policy](env.Policy, Name)
	var out []finding.Finding
	for _, c := range components {
		p := path.Join(manifestDir, c.name+".yaml")
		if !env.Root.Exists(p) {
			// The skip cites the manifest's permission check, which it stands
			// in for, rather than the input entry's section reference.
			f := catalog.Get("controlplane."+c.name).Finding(finding.Skip, p+" does not exist (the component may run elsewhere)")
			f.Severity, f.Title, f.Remediation = finding.Info, c.name+" has no static pod", ""
			f.References = catalog.Get("controlplane." + c.name + "-manifest-permissions").Refs()
			f.Evidence.Set("file", p)
			out = append(out, f)
			continue
		}
		out = append(out, kubelet.CheckFile(env.Root, kubelet.FileCheck{ID: "controlplane." + c.name + "-manifest",
			What: c.name + " manifest", Path: p, MaxMode: 0o600})...)
		pd, err := readPod(env.Root, p, c.name)
		if err != nil {
			f := finding.ErrorFinding(Name, "controlplane."+c.name, c.name+" manifest could not be read", err)
			f.References = catalog.Get("controlplane." + c.name).Refs()
			out = append(out, f)
			continue
		}
		var in *apiInputs
		if c.name == "kube-apiserver" {
			in = &apiInputs{}
			in.authz, in.authzSrc, in.authzErr = authorizers(env.Root, pd)
			in.adm, in.admErr = effectiveAdmission(env.Root, pd)
		}
		for _, fc := range c.checks {
			out = append(out, judge(c.name, pd, fc, in))
		}
		if c.name == "etcd" {
			out = append(out, etcdDataDir(env.Root, pd, pol)...)
		}
	}
	return append(out, fileChecks(env.Root)...)
}

func judge(comp string, pd *pod, fc flagCheck, in *apiInputs) finding.Finding {
	e := catalog.Get("controlplane." + fc.id)
	if fc.computed != nil {
		ok, v, src, err := fc.computed(in)
		if err != nil {
			f := finding.ErrorFinding(Name, e.ID, e.Title+" could not be judged", fmt.Errorf("%s: %w", pd.manifest, err))
			f.Severity, f.References = e.Severity, e.Refs()
			f.Evidence = finding.EvidenceOf(map[string]string{"manifest": pd.manifest})
			return f
		}
		f := e.Finding(finding.Fail, fmt.Sprintf("%s: %s (%s)", e.Title, v, src))
		f.Evidence = finding.EvidenceOf(map[string]string{"manifest": pd.manifest, "value": v, "source": src})
		if in.adm != nil && strings.HasPrefix(fc.id, "apiserver.admission-") {
			f.Evidence.Set("admission-plugins", in.adm.list())
		}
		if in.adm != nil && len(in.adm.configured) > 0 {
			f.Evidence.Set("admission-control-config-file.plugins", strings.Join(in.adm.configured, ","))
		}
		f.Remediation = fmt.Sprintf(f.Remediation, pd.manifest)
		if ok {
			f.Status, f.Remediation = finding.Pass, ""
		}
		return f
	}
	v, set := pd.flags[fc.flag]
	src := pd.source[fc.flag]
	if !set {
		v, src = fc.def, comp+" default (flag not set)"
	}
	shown := v
	if shown == "" {
		shown = `""`
	}
	f := e.Finding(finding.Fail, fmt.Sprintf("%s --%s is %s (%s)", comp, fc.flag, shown, src))
	f.Evidence = finding.EvidenceOf(map[string]string{"manifest": pd.manifest, fc.flag: v, fc.flag + ".source": src})
	f.Remediation = fmt.Sprintf(f.Remediation, pd.manifest)
	if fc.ok(v, set, pd.flags) {
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

const pkiDir = "/etc/kubernetes/pki"

// fileChecks are CIS 1.1.13-1.1.21: kubeconfigs and PKI.
func fileChecks(root *hostfs.Root) []finding.Finding {
	var out []finding.Finding
	for _, k := range kubeconfigs {
		out = append(out, kubelet.CheckFile(root, kubelet.FileCheck{ID: "controlplane.kubeconfig", What: whatKubeconfig,
			Path: k.file, MaxMode: 0o600, ModeRef: cis(k.mode), OwnerRef: cis(k.own), Optional: true})...)
	}
	// CIS 1.1.20: certificates "644 or more restrictive"; 1.1.21: keys 600.
	for _, pat := range []struct {
		glob, id string
		max      fs.FileMode
	}{
		{pkiDir + "/*.crt", "controlplane.pki-cert", 0o644},
		{pkiDir + "/etcd/*.crt", "controlplane.pki-cert", 0o644},
		{pkiDir + "/*.key", "controlplane.pki-key", 0o600},
		{pkiDir + "/etcd/*.key", "controlplane.pki-key", 0o600},
	} {
		files, err := root.Glob(pat.glob)
		if err != nil {
			out = append(out, finding.ErrorFinding(Name, pat.id+"-permissions", "PKI files could not be listed", err))
			continue
		}
		for _, f := range files {
			out = append(out, kubelet.CheckFile(root, kubelet.FileCheck{ID: pat.id, What: "PKI file", Path: f, MaxMode: pat.max})...)
		}
	}
	return append(out, pkiOwnership(root)...)
}

// pkiOwnership is the rest of CIS 1.1.19 ("PKI directory and file
// ownership"): the directories, and the files that are neither
// certificates nor keys (sa.pub), which the checks above do not cover.
func pkiOwnership(root *hostfs.Root) []finding.Finding {
	if !root.Exists(pkiDir) {
		return nil
	}
	var out []finding.Finding
	var walk func(dir string)
	walk = func(dir string) {
		out = append(out, ownedBy(root, "controlplane.pki-ownership", dir, "root:root", []owner{{0, 0}}))
		ents, err := root.ReadDir(dir)
		if err != nil {
			out = append(out, finding.ErrorFinding(Name, "controlplane.pki-ownership", "PKI directory could not be listed", err))
			return
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			switch {
			case e.IsDir():
				walk(p)
			case path.Ext(p) == ".crt" || path.Ext(p) == ".key":
			default:
				out = append(out, ownedBy(root, "controlplane.pki-ownership", p, "root:root", []owner{{0, 0}}))
			}
		}
	}
	walk(pkiDir)
	return out
}

type owner struct{ uid, gid int64 }

// ownedBy judges a file's owner against the allowed uid:gid pairs; want is
// what the finding says is expected.
func ownedBy(root *hostfs.Root, id, p, want string, allowed []owner) finding.Finding {
	e := catalog.Get(id)
	st, err := root.Stat(p)
	if err != nil {
		f := finding.ErrorFinding(Name, id, e.Title+" could not be checked", err)
		f.References, f.Evidence = e.Refs(), finding.Evidence{{Key: "file", Value: p}}
		return f
	}
	uid, gid, _ := hostfs.Owner(st)
	got := owner{int64(uid), int64(gid)}
	f := e.Finding(finding.Fail, fmt.Sprintf("%s is owned by %d:%d; it must be %s", p, uid, gid, want))
	f.Evidence = finding.EvidenceOf(map[string]string{"file": p, "uid": strconv.Itoa(int(uid)), "gid": strconv.Itoa(int(gid)), "want": want})
	f.Remediation = e.Remedy(want, p)
	if slices.Contains(allowed, got) {
		f.Status, f.Remediation = finding.Pass, ""
		f.Message = fmt.Sprintf("%s is owned by %d:%d (%s)", p, uid, gid, want)
	}
	return f
}
