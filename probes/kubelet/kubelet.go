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
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
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
	IDUnknownFlag   = "kubelet.unknown-flag"
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is stateless: the kubelet's files are few and small.
type Probe struct{}

func (*Probe) Name() string { return Name }

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	var out []finding.Finding
	v, from, _ := HostVersion(env)
	e, unit, err := Find(env.Root, v, from)
	switch {
	case errors.Is(err, ErrNotFound):
		return []finding.Finding{skip(catalog.Get(IDDiscovery), "No kubelet on this host", err.Error())}
	case err != nil:
		f := finding.ErrorFinding(Name, IDConfig, "Kubelet configuration could not be read", err)
		f.References = catalog.Get(IDConfig).Refs()
		if e != nil {
			f.Evidence = finding.EvidenceOf(map[string]string{"kubelet": e.Found})
		}
		out = append(out, f)
	}
	access := fileAccess(pol)
	out = append(out, serviceFileChecks(env, unit, access)...)
	if e != nil && e.table != nil && (err == nil || len(e.UnknownFlags) > 0) {
		// Unknown flags fail even when the rest could not be read; they pass
		// only with the configuration read.
		out = append(out, unknownFlagChecks(e)...)
	}
	if e == nil || err != nil {
		// Without an effective configuration no 4.2 check can be judged; the
		// error finding above says why.
		return append(out, proxyChecks(env, access)...)
	}
	out = append(out, unknownFieldChecks(e)...)
	out = append(out, fileChecks(env, e, access)...)
	out = append(out, configChecks(pol, e)...)
	out = append(out, proxyChecks(env, access)...)
	return out
}

// HostVersion is Version for one scan, computed once however many probes
// ask: the Node's version when the agent read it, else the executable's (a
// -trimpath kubelet of 100 MB is read whole to find it).
func HostVersion(env *probes.Env) (version, from string, err error) {
	type result struct {
		v, from string
		err     error
	}
	r := probes.Shared(env, Name+".version", func() result {
		v, from, err := Version(env.Root, env.KubeletVersion, "the Node's status.nodeInfo.kubeletVersion")
		return result{v, from, err}
	})
	return r.v, r.from, r.err
}

// unknownFieldChecks fails each config file with fields the kubelet ignores
// (in file order, for a stable report), and passes when the files it reads
// have none.
func unknownFieldChecks(e *Effective) []finding.Finding {
	entry := catalog.Get(IDUnknownFields)
	files := append([]string{e.ConfigFile}, e.DropIns...)
	if e.ConfigFile == "" {
		files = e.DropIns
	}
	if len(files) == 0 {
		return nil // no config file: nothing can be misspelt
	}
	if len(e.Unknown) == 0 {
		f := entry.Finding(finding.Pass, fmt.Sprintf("every field of %s is one the kubelet reads", strings.Join(files, ", ")))
		f.Severity = finding.Info
		f.Title = "Kubelet config files have no fields the kubelet ignores"
		return []finding.Finding{f}
	}
	var out []finding.Finding
	for _, file := range slices.Sorted(maps.Keys(e.Unknown)) {
		f := entry.Finding(finding.Fail,
			fmt.Sprintf("%s: %s; the kubelet ignores these fields, so they change nothing", file, e.Unknown[file]))
		f.Evidence.Set("file", file)
		out = append(out, f)
	}
	return out
}

// unknownFlagChecks fails each flag the version's table does not have; the
// other flags are judged all the same.
func unknownFlagChecks(e *Effective) []finding.Finding {
	entry := catalog.Get(IDUnknownFlag)
	if len(e.UnknownFlags) == 0 {
		f := entry.Finding(finding.Pass, "every flag on the command line is in the "+e.Version.Table+" tables")
		f.Severity = finding.Info
		addVersion(&f.Evidence, e)
		return []finding.Finding{f}
	}
	var out []finding.Finding
	for _, arg := range e.UnknownFlags {
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		name, _, _ = strings.Cut(name, " ")
		name = normalizeFlag(name)
		msg := fmt.Sprintf("%s is not a flag of the %s tables", arg, e.Version.Table)
		if vs := flagVersions(name); len(vs) > 0 {
			msg += fmt.Sprintf(" (kubelet %s to %s have it)", vs[0], vs[len(vs)-1])
		}
		if e.PID != 0 {
			msg += "; the running kubelet accepted it, so it may not be the version the tables are for"
		} else {
			msg += "; a kubelet refuses to start with a flag it does not have"
		}
		f := entry.Finding(finding.Fail, msg+" ("+e.Version.String()+")")
		f.Evidence.Set("flag", "--"+name)
		addVersion(&f.Evidence, e)
		out = append(out, f)
	}
	return out
}

// addVersion records which version's tables judged a finding.
func addVersion(ev *finding.Evidence, e *Effective) {
	if e.Version.Kubelet != "" {
		ev.Set("kubeletVersion", e.Version.Kubelet)
	}
	table := e.Version.Table
	if e.Version.Union {
		table += " (" + e.Version.Note + ")"
	}
	ev.Set("versionTable", table)
}

// fileAccess is how the 4.1 file checks judge modes: by the access the
// file's directories leave (kube-bench #1598: kubeadm's 0644 config.yaml in
// its 0700 /var/lib/kubelet), or by the file's own mode when the policy is
// strict, as the text's `stat -c %a` audit is.
func fileAccess(pol *Policy) Access {
	if pol.StrictFileModes {
		return OwnModeShowEffective
	}
	return EffectiveMode
}

func serviceFileChecks(env *probes.Env, unit *serviceUnit, access Access) []finding.Finding {
	if unit == nil {
		const title, msg = "No kubelet service file", "no kubelet.service unit or drop-in exists"
		return []finding.Finding{
			skip(catalog.Get("kubelet.service-file-permissions"), title, msg),
			skip(catalog.Get("kubelet.service-file-ownership"), title, msg),
		}
	}
	var out []finding.Finding
	for _, f := range unit.Files {
		out = append(out, CheckFile(env.Root, FileCheck{ID: "kubelet.service-file", What: whatServiceFile, Path: f,
			MaxMode: maxServiceFile, Access: access})...)
	}
	return out
}

func fileChecks(env *probes.Env, e *Effective, access Access) []finding.Finding {
	var out []finding.Finding
	file := func(id, what, p string, limit fs.FileMode) {
		out = append(out, CheckFile(env.Root, FileCheck{ID: id, What: what, Path: p, MaxMode: limit, Access: access})...)
	}
	if kc := e.Flags[flagKubeconfig]; kc != "" {
		file("kubelet.kubeconfig", whatKubeconfig, kc, maxKubeconfig)
	} else {
		out = append(out, skip(catalog.Get("kubelet.kubeconfig-permissions"), "Kubelet runs without a kubeconfig",
			"--kubeconfig is not set (standalone kubelet)"))
	}
	if ca := e.Config.Authentication.X509.ClientCAFile; ca != "" {
		file("kubelet.client-ca", whatClientCA, ca, maxClientCA)
	} else {
		out = append(out, skip(catalog.Get("kubelet.client-ca-permissions"), "No client CA file",
			"authentication.x509.clientCAFile is not set (see kubelet.client-ca)"))
	}
	if e.ConfigFile != "" {
		file("kubelet.config-file", whatConfigFile, e.ConfigFile, maxConfigFile)
		for _, d := range e.DropIns {
			file("kubelet.config-file", "Kubelet config drop-in", d, maxConfigFile)
		}
	} else {
		out = append(out, skip(catalog.Get("kubelet.config-file-permissions"), "Kubelet runs without a config file",
			"--config is not set: the kubelet is configured by flags only"))
	}
	return out
}

// judged builds a pass or fail finding for one effective value; title,
// severity, references and remediation are its catalogue entry's.
type judged struct {
	id    string
	paths []string // the effective values the check read
	ok    bool
	msg   string
	args  []any // fill the remediation's verbs from the policy
}

func (j judged) finding(e *Effective) finding.Finding {
	f := catalog.Get(j.id).Finding(finding.Fail, j.msg)
	f.Evidence.Set("kubelet", e.Found)
	addVersion(&f.Evidence, e)
	for _, p := range j.paths {
		f.Evidence.Set(p, e.Value(p))
		f.Evidence.Set(p+".source", e.Source(p).String())
	}
	if len(j.args) > 0 {
		f.Remediation = fmt.Sprintf(f.Remediation, j.args...)
	}
	if j.ok {
		f.Status, f.Remediation = finding.Pass, ""
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
	rotateServerOK, rotateServerMsg := serverRotation, "; the kubelet rotates its serving certificate only when both are true"
	if !pol.RequireServerTLSBootstrap {
		rotateServerOK, rotateServerMsg = e.RotateServerCertGate(), "; the policy reads the feature gate only, as CIS does"
	}
	rotateOK := kc.RotateCertificates
	if src := e.Source("rotateCertificates").Kind; !pol.RequireRotateCertificates && (src == FromDefault || src == FromLegacyDefault) {
		rotateOK = true // CIS fails an explicit false only
	}
	var badCiphers []string
	for _, c := range kc.TLSCipherSuites {
		if !slices.Contains(pol.TLSCipherSuites, c) {
			badCiphers = append(badCiphers, c)
		}
	}
	checks := []judged{
		{id: "kubelet.anonymous-auth",
			paths: []string{"authentication.anonymous.enabled"}, ok: !anon,
			msg: describe(e, "authentication.anonymous.enabled")},
		{id: "kubelet.authorization-mode",
			paths: []string{"authorization.mode"}, ok: kc.Authorization.Mode != "AlwaysAllow",
			msg: describe(e, "authorization.mode")},
		{id: "kubelet.client-ca",
			paths: []string{"authentication.x509.clientCAFile"}, ok: kc.Authentication.X509.ClientCAFile != "",
			msg: describe(e, "authentication.x509.clientCAFile")},
		{id: "kubelet.read-only-port",
			paths: []string{"readOnlyPort"}, ok: ro == 0,
			msg: describe(e, "readOnlyPort")},
		{id: "kubelet.streaming-idle-timeout",
			paths: []string{"streamingConnectionIdleTimeout"}, ok: kc.StreamingConnectionIdleTimeout.Duration != 0,
			msg: describe(e, "streamingConnectionIdleTimeout")},
		{id: "kubelet.iptables-util-chains",
			paths: []string{"makeIPTablesUtilChains"}, ok: kc.MakeIPTablesUtilChains == nil || *kc.MakeIPTablesUtilChains,
			msg: describe(e, "makeIPTablesUtilChains")},
		{id: "kubelet.hostname-override",
			paths: []string{"--" + flagHostnameOverride}, ok: e.Flags[flagHostnameOverride] == "",
			msg: describe(e, "--"+flagHostnameOverride)},
		{id: "kubelet.event-qps",
			paths: []string{"eventRecordQPS"}, ok: qps == 0 || qps >= pol.MinEventRecordQPS,
			msg:  describe(e, "eventRecordQPS") + fmt.Sprintf("; the policy wants 0 (no limit) or at least %d", pol.MinEventRecordQPS),
			args: []any{pol.MinEventRecordQPS}},
		{id: "kubelet.tls-cert",
			paths: []string{"tlsCertFile", "tlsPrivateKeyFile", "serverTLSBootstrap"}, ok: tlsFiles || serverRotation,
			msg: tlsCertMessage(e, tlsFiles, serverRotation)},
		{id: "kubelet.rotate-certificates",
			paths: []string{"rotateCertificates"}, ok: rotateOK,
			msg: describe(e, "rotateCertificates")},
		{id: "kubelet.rotate-server-certificates",
			paths: []string{"featureGates." + rotateServerCertGate, "serverTLSBootstrap"}, ok: rotateServerOK,
			msg: describe(e, "featureGates."+rotateServerCertGate) + "; " + describe(e, "serverTLSBootstrap") + rotateServerMsg},
		{id: "kubelet.tls-cipher-suites",
			paths: []string{"tlsCipherSuites"}, ok: len(kc.TLSCipherSuites) > 0 && len(badCiphers) == 0,
			msg:  cipherMessage(e, badCiphers),
			args: []any{strings.Join(pol.TLSCipherSuites, ",")}},
		{id: "kubelet.pod-pids-limit",
			paths: []string{"podPidsLimit"}, ok: pids > 0,
			msg: describe(e, "podPidsLimit") + " (-1: no per-pod limit)"},
		{id: "kubelet.seccomp-default",
			paths: []string{"seccompDefault"}, ok: e.SeccompDefault(),
			msg: describe(e, "seccompDefault")},
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
