// Package kubelet is the kubelet's configuration audit (CIS Kubernetes 4.1.x,
// 4.2.x and 4.3.1). It finds the kubelet (its process, else its systemd unit),
// computes the effective configuration the way the kubelet does (defaults,
// --config, --config-dir drop-ins, then flags) and judges effective values,
// recording where each came from.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "kubelet"

// Finding ids that are not a single CIS check.
const (
	IDDiscovery     = "kubelet.discovery"
	IDConfig        = "kubelet.config"
	IDUnknownFields = "kubelet.unknown-fields"
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is stateless: the kubelet's files are few and small.
type Probe struct{}

func (*Probe) Name() string { return Name }

func cis(id string) string { return "CIS Kubernetes " + id }

const guidanceKubeletAccess = "Kubernetes security guidance 5.4.6"

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	var out []finding.Finding
	e, unit, err := Find(env.Root)
	switch {
	case errors.Is(err, ErrNotFound):
		return []finding.Finding{skip(Name, IDDiscovery, "No kubelet on this host", err.Error(), cis("4.2"))}
	case err != nil:
		f := finding.ErrorFinding(Name, IDConfig, "Kubelet configuration could not be read", err)
		f.References = []string{cis("4.2")}
		if e != nil {
			f.Evidence = map[string]string{"kubelet": e.Found}
		}
		out = append(out, f)
	}
	out = append(out, serviceFileChecks(env, unit)...)
	if e == nil || err != nil {
		// Without an effective configuration no 4.2 check can be judged; the
		// error finding above says why.
		return append(out, proxyChecks(env)...)
	}
	for file, msg := range e.Unknown {
		out = append(out, finding.Finding{
			ID: IDUnknownFields, Probe: Name, Status: finding.Fail, Severity: finding.Medium,
			Title:       "Kubelet config file has fields the kubelet ignores",
			Message:     fmt.Sprintf("%s: %s; the kubelet ignores these fields, so they change nothing", file, msg),
			Remediation: "Fix the field names (they are case-sensitive) or remove them.",
			References:  []string{cis("4.2")},
			Evidence:    map[string]string{"file": file},
		})
	}
	out = append(out, fileChecks(env, e)...)
	out = append(out, configChecks(pol, e)...)
	out = append(out, proxyChecks(env)...)
	return out
}

func serviceFileChecks(env *probes.Env, unit *serviceUnit) []finding.Finding {
	if unit == nil {
		return []finding.Finding{
			skip(Name, "kubelet.service-file-permissions", "No kubelet service file", "no kubelet.service unit or drop-in exists", cis("4.1.1")),
			skip(Name, "kubelet.service-file-ownership", "No kubelet service file", "no kubelet.service unit or drop-in exists", cis("4.1.2")),
		}
	}
	var out []finding.Finding
	for _, f := range unit.Files {
		out = append(out, CheckFile(env.Root, FileCheck{Probe: Name, ID: "kubelet.service-file", What: "Kubelet service file",
			Path: f, MaxMode: 0o600, ModeRef: cis("4.1.1"), OwnerRef: cis("4.1.2"), Severity: finding.Medium})...)
	}
	return out
}

func fileChecks(env *probes.Env, e *Effective) []finding.Finding {
	var out []finding.Finding
	file := func(id, what, p, modeRef, ownRef string, sev finding.Severity) {
		out = append(out, CheckFile(env.Root, FileCheck{Probe: Name, ID: id, What: what, Path: p, MaxMode: 0o600,
			ModeRef: cis(modeRef), OwnerRef: cis(ownRef), Severity: sev})...)
	}
	if kc := e.Flags[flagKubeconfig]; kc != "" {
		file("kubelet.kubeconfig", "Kubelet kubeconfig", kc, "4.1.5", "4.1.6", finding.High)
	} else {
		out = append(out, skip(Name, "kubelet.kubeconfig-permissions", "Kubelet runs without a kubeconfig",
			"--kubeconfig is not set (standalone kubelet)", cis("4.1.5")))
	}
	if ca := e.Config.Authentication.X509.ClientCAFile; ca != "" {
		file("kubelet.client-ca", "Kubelet client CA file", ca, "4.1.7", "4.1.8", finding.Medium)
	} else {
		out = append(out, skip(Name, "kubelet.client-ca-permissions", "No client CA file",
			"authentication.x509.clientCAFile is not set (see kubelet.client-ca)", cis("4.1.7")))
	}
	if e.ConfigFile != "" {
		file("kubelet.config-file", "Kubelet config file", e.ConfigFile, "4.1.9", "4.1.10", finding.High)
		for _, d := range e.DropIns {
			file("kubelet.config-file", "Kubelet config drop-in", d, "4.1.9", "4.1.10", finding.High)
		}
	} else {
		out = append(out, skip(Name, "kubelet.config-file-permissions", "Kubelet runs without a config file",
			"--config is not set: the kubelet is configured by flags only", cis("4.1.9")))
	}
	return out
}

// judged builds a pass or fail finding for one effective value.
type judged struct {
	id, ref, title string
	sev            finding.Severity
	paths          []string // the effective values the check read
	ok             bool
	msg, fix       string
}

func (j judged) finding(e *Effective) finding.Finding {
	f := finding.Finding{ID: j.id, Probe: Name, Severity: j.sev, Title: j.title, Message: j.msg,
		References: []string{cis(j.ref)}, Evidence: map[string]string{"kubelet": e.Found}}
	if j.ref == "4.2.1" || j.ref == "4.2.2" {
		f.References = append(f.References, guidanceKubeletAccess)
	}
	for _, p := range j.paths {
		f.Evidence[p] = e.Value(p)
		f.Evidence[p+".source"] = e.Source(p).String()
	}
	if j.ok {
		f.Status = finding.Pass
	} else {
		f.Status, f.Remediation = finding.Fail, j.fix
	}
	return f
}

// describe renders "path=value (source)" for messages.
func describe(e *Effective, p string) string {
	v := e.Value(p)
	if v == "" {
		v = `""`
	}
	return fmt.Sprintf("%s is %s (%s)", p, v, e.Source(p))
}

func configChecks(pol *Policy, e *Effective) []finding.Finding {
	kc := &e.Config
	anon := kc.Authentication.Anonymous.Enabled != nil && *kc.Authentication.Anonymous.Enabled
	ro := kc.ReadOnlyPort
	qps := int32(0)
	if kc.EventRecordQPS != nil {
		qps = *kc.EventRecordQPS
	}
	pids := int64(-1)
	if kc.PodPidsLimit != nil {
		pids = *kc.PodPidsLimit
	}
	tlsFiles := kc.TLSCertFile != "" && kc.TLSPrivateKeyFile != ""
	serverRotation := kc.ServerTLSBootstrap && e.RotateServerCertGate()
	var badCiphers []string
	for _, c := range kc.TLSCipherSuites {
		if !slices.Contains(pol.TLSCipherSuites, c) {
			badCiphers = append(badCiphers, c)
		}
	}
	checks := []judged{
		{id: "kubelet.anonymous-auth", ref: "4.2.1", sev: finding.Critical, title: "Kubelet anonymous authentication",
			paths: []string{"authentication.anonymous.enabled"}, ok: !anon,
			msg: describe(e, "authentication.anonymous.enabled"),
			fix: "Set authentication.anonymous.enabled: false in the kubelet config file (or --anonymous-auth=false)."},
		{id: "kubelet.authorization-mode", ref: "4.2.2", sev: finding.Critical, title: "Kubelet authorization mode",
			paths: []string{"authorization.mode"}, ok: kc.Authorization.Mode != "AlwaysAllow",
			msg: describe(e, "authorization.mode"),
			fix: "Set authorization.mode: Webhook in the kubelet config file (or --authorization-mode=Webhook)."},
		{id: "kubelet.client-ca", ref: "4.2.3", sev: finding.High, title: "Kubelet client CA file",
			paths: []string{"authentication.x509.clientCAFile"}, ok: kc.Authentication.X509.ClientCAFile != "",
			msg: describe(e, "authentication.x509.clientCAFile"),
			fix: "Set authentication.x509.clientCAFile to the cluster CA (or --client-ca-file)."},
		{id: "kubelet.read-only-port", ref: "4.2.4", sev: finding.High, title: "Kubelet read-only port",
			paths: []string{"readOnlyPort"}, ok: ro == 0,
			msg: describe(e, "readOnlyPort"),
			fix: "Set readOnlyPort: 0 in the kubelet config file (or --read-only-port=0)."},
		{id: "kubelet.streaming-idle-timeout", ref: "4.2.5", sev: finding.Medium, title: "Kubelet streaming connection idle timeout",
			paths: []string{"streamingConnectionIdleTimeout"}, ok: kc.StreamingConnectionIdleTimeout.Duration != 0,
			msg: describe(e, "streamingConnectionIdleTimeout"),
			fix: "Set streamingConnectionIdleTimeout to a non-zero duration such as 5m."},
		{id: "kubelet.iptables-util-chains", ref: "4.2.6", sev: finding.Medium, title: "Kubelet manages iptables utility chains",
			paths: []string{"makeIPTablesUtilChains"}, ok: kc.MakeIPTablesUtilChains == nil || *kc.MakeIPTablesUtilChains,
			msg: describe(e, "makeIPTablesUtilChains"),
			fix: "Remove makeIPTablesUtilChains: false (or --make-iptables-util-chains=false)."},
		{id: "kubelet.hostname-override", ref: "4.2.7", sev: finding.Low, title: "Kubelet hostname override",
			paths: []string{"--" + flagHostnameOverride}, ok: e.Flags[flagHostnameOverride] == "",
			msg: describe(e, "--"+flagHostnameOverride),
			fix: "Remove --hostname-override so the node name matches the hostname its certificates are issued for."},
		{id: "kubelet.event-qps", ref: "4.2.8", sev: finding.Low, title: "Kubelet event record QPS",
			paths: []string{"eventRecordQPS"}, ok: qps == 0 || qps >= pol.MinEventRecordQPS,
			msg: describe(e, "eventRecordQPS") + fmt.Sprintf("; the policy wants 0 (no limit) or at least %d", pol.MinEventRecordQPS),
			fix: fmt.Sprintf("Set eventRecordQPS to 0 or at least %d.", pol.MinEventRecordQPS)},
		{id: "kubelet.tls-cert", ref: "4.2.9", sev: finding.High, title: "Kubelet serving certificate",
			paths: []string{"tlsCertFile", "tlsPrivateKeyFile", "serverTLSBootstrap"}, ok: tlsFiles || serverRotation,
			msg: tlsCertMessage(e, tlsFiles, serverRotation),
			fix: "Set tlsCertFile and tlsPrivateKeyFile, or serverTLSBootstrap: true with certificates approved by the cluster."},
		{id: "kubelet.rotate-certificates", ref: "4.2.10", sev: finding.Medium, title: "Kubelet client certificate rotation",
			paths: []string{"rotateCertificates"}, ok: kc.RotateCertificates,
			msg: describe(e, "rotateCertificates"),
			fix: "Set rotateCertificates: true (or --rotate-certificates)."},
		{id: "kubelet.rotate-server-certificates", ref: "4.2.11", sev: finding.Medium, title: "Kubelet serving certificate rotation",
			paths: []string{"featureGates." + rotateServerCertGate, "serverTLSBootstrap"}, ok: serverRotation,
			msg: describe(e, "featureGates."+rotateServerCertGate) + "; " + describe(e, "serverTLSBootstrap") +
				"; the kubelet rotates its serving certificate only when both are true",
			fix: "Set serverTLSBootstrap: true and leave the RotateKubeletServerCertificate feature gate on."},
		{id: "kubelet.tls-cipher-suites", ref: "4.2.12", sev: finding.Medium, title: "Kubelet TLS cipher suites",
			paths: []string{"tlsCipherSuites"}, ok: len(kc.TLSCipherSuites) > 0 && len(badCiphers) == 0,
			msg: cipherMessage(e, badCiphers),
			fix: "Set tlsCipherSuites to strong suites only: " + strings.Join(pol.TLSCipherSuites, ",")},
		{id: "kubelet.pod-pids-limit", ref: "4.2.13", sev: finding.Medium, title: "Kubelet pod PID limit",
			paths: []string{"podPidsLimit"}, ok: pids > 0,
			msg: describe(e, "podPidsLimit") + " (-1: no per-pod limit)",
			fix: "Set podPidsLimit to a positive number suited to the workloads (or --pod-max-pids)."},
		{id: "kubelet.seccomp-default", ref: "4.2.14", sev: finding.Medium, title: "Kubelet default seccomp profile",
			paths: []string{"seccompDefault"}, ok: e.SeccompDefault(),
			msg: describe(e, "seccompDefault"),
			fix: "Set seccompDefault: true (or --seccomp-default)."},
	}
	out := make([]finding.Finding, 0, len(checks))
	for _, c := range checks {
		out = append(out, c.finding(e))
	}
	return out
}

func tlsCertMessage(e *Effective, files, rotation bool) string {
	switch {
	case files:
		return fmt.Sprintf("the kubelet serves with %s (%s)", e.Config.TLSCertFile, e.Source("tlsCertFile"))
	case rotation:
		return "the kubelet requests its serving certificate from the cluster (serverTLSBootstrap)"
	}
	return "tlsCertFile/tlsPrivateKeyFile are not set and serverTLSBootstrap is off: the kubelet serves with a self-signed certificate it generates"
}

func cipherMessage(e *Effective, bad []string) string {
	if len(e.Config.TLSCipherSuites) == 0 {
		return "tlsCipherSuites is not set (" + e.Source("tlsCipherSuites").String() + "): the kubelet offers Go's default suites, which include CBC suites"
	}
	if len(bad) > 0 {
		return fmt.Sprintf("%s; not allowed by the policy: %s", describe(e, "tlsCipherSuites"), strings.Join(bad, ","))
	}
	return describe(e, "tlsCipherSuites")
}
