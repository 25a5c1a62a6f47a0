package kubelet

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks()...) }

const (
	condition             = "InsecureKubeletConfig"
	runbook               = "nodeguardinsecurekubeletconfig"
	guidanceKubeletAccess = "Kubernetes security guidance 5.4.6"
)

// What the file checks call each file; their titles start with it.
const (
	whatServiceFile     = "Kubelet service file"
	whatProxyKubeconfig = "kube-proxy kubeconfig"
	whatKubeconfig      = "Kubelet kubeconfig"
	whatClientCA        = "Kubelet client CA file"
	whatConfigFile      = "Kubelet config file"
)

// The most each file may allow, as the titles of CIS Kubernetes v1.12 4.1.x
// give it ("600 or more restrictive"); only the client CA's is 644.
const (
	maxServiceFile     = 0o600 // 4.1.1
	maxProxyKubeconfig = 0o600 // 4.1.3
	maxKubeconfig      = 0o600 // 4.1.5
	maxClientCA        = 0o644 // 4.1.7 "certificate authorities file ... 644 or more restrictive"
	maxConfigFile      = 0o600 // 4.1.9
)

// cis names the benchmark version the item numbers are from.
func cis(id string) string { return "CIS Kubernetes v1.12 " + id }

// FileEntries describes the permission and ownership checks CheckFile runs
// for files with the given id and what. base gives probe, severity,
// condition and runbook. The remediations are formats CheckFile fills with
// the mode and the file.
func FileEntries(base catalog.Entry, id, what string, modeRefs, ownRefs []string) []catalog.Entry {
	perm, own := base, base
	perm.ID, perm.Title, perm.References = id+"-permissions", what+" permissions", modeRefs
	perm.Remediation = "chmod %o %s"
	own.ID, own.Title, own.References = id+"-ownership", what+" ownership", ownRefs
	own.Remediation = "chown root:root %s"
	return []catalog.Entry{perm, own}
}

// checks describes every check of the probe (see probes/model/catalog).
// The probe takes titles, severities, references and remediations from
// here; the probe fills the verbs of remediations (policy values, files).
func checks() []catalog.Entry {
	es := []catalog.Entry{
		{ID: IDUnknownFields, Probe: Name, Title: "Kubelet config file has fields the kubelet ignores", Severity: finding.Medium,
			References: []string{cis("4.2")}, Condition: condition, Runbook: runbook,
			Remediation: "Fix the field names (they are case-sensitive) or remove them."},
		// A flag of another version: the kubelet refuses to start with it, or
		// nodeguard has the version wrong.
		{ID: IDUnknownFlag, Probe: Name, Title: "Kubelet flag the kubelet's version does not have", Severity: finding.Low,
			References: []string{cis("4.2")}, Condition: condition, Runbook: runbook,
			Remediation: "Remove the flag from the kubelet's command line (kubeadm-flags.env, the unit or its drop-ins), or set it in the config file if the version has a field for it."},
		{ID: "kubelet.anonymous-auth", Probe: Name, Title: "Kubelet anonymous authentication", Severity: finding.Critical,
			References: []string{cis("4.2.1"), guidanceKubeletAccess}, Condition: condition, Runbook: runbook,
			Remediation: "Set authentication.anonymous.enabled: false in the kubelet config file (or --anonymous-auth=false)."},
		{ID: "kubelet.authorization-mode", Probe: Name, Title: "Kubelet authorization mode", Severity: finding.Critical,
			References: []string{cis("4.2.2"), guidanceKubeletAccess}, Condition: condition, Runbook: runbook,
			Remediation: "Set authorization.mode: Webhook in the kubelet config file (or --authorization-mode=Webhook)."},
		{ID: "kubelet.client-ca", Probe: Name, Title: whatClientCA, Severity: finding.High,
			References: []string{cis("4.2.3")}, Condition: condition, Runbook: runbook,
			Remediation: "Set authentication.x509.clientCAFile to the cluster CA (or --client-ca-file)."},
		{ID: IDConfig, Probe: Name, Title: "Kubelet configuration is readable", Severity: finding.High,
			References: []string{cis("4.2")}, Condition: condition, Runbook: "nodeguardchecksfailing", Kind: catalog.Input},
		{ID: IDDiscovery, Probe: Name, Title: "Kubelet discovery", Severity: finding.Info,
			References: []string{cis("4.2")}, Condition: condition, Runbook: runbook, Kind: catalog.Notice},
		{ID: "kubelet.event-qps", Probe: Name, Title: "Kubelet event record QPS", Severity: finding.Low,
			References: []string{cis("4.2.8")}, Condition: condition, Runbook: runbook,
			Remediation: "Set eventRecordQPS to 0 or at least %d."},
		{ID: "kubelet.hostname-override", Probe: Name, Title: "Kubelet hostname override", Severity: finding.Low,
			References: []string{cis("4.2.7")}, Condition: condition, Runbook: runbook,
			Remediation: "Remove --hostname-override so the node name matches the hostname its certificates are issued for."},
		{ID: "kubelet.iptables-util-chains", Probe: Name, Title: "Kubelet manages iptables utility chains", Severity: finding.Medium,
			References: []string{cis("4.2.6")}, Condition: condition, Runbook: runbook,
			Remediation: "Remove makeIPTablesUtilChains: false (or --make-iptables-util-chains=false)."},
		{ID: "kubelet.pod-pids-limit", Probe: Name, Title: "Kubelet pod PID limit", Severity: finding.Medium,
			References: []string{cis("4.2.13")}, Condition: condition, Runbook: runbook,
			Remediation: "Set podPidsLimit to a positive number suited to the workloads (or --pod-max-pids)."},
		{ID: "kubelet.proxy-metrics-bind", Probe: Name, Title: "kube-proxy metrics bind address", Severity: finding.Medium,
			References: []string{cis("4.3.1")}, Condition: condition, Runbook: runbook,
			Remediation: "Set metricsBindAddress: " + proxyMetricsDefault + " in the kube-proxy configuration."},
		{ID: "kubelet.read-only-port", Probe: Name, Title: "Kubelet read-only port", Severity: finding.High,
			References: []string{cis("4.2.4")}, Condition: condition, Runbook: runbook,
			Remediation: "Set readOnlyPort: 0 in the kubelet config file (or --read-only-port=0)."},
		{ID: "kubelet.rotate-certificates", Probe: Name, Title: "Kubelet client certificate rotation", Severity: finding.Medium,
			References: []string{cis("4.2.10")}, Condition: condition, Runbook: runbook,
			Remediation: "Set rotateCertificates: true (or --rotate-certificates)."},
		{ID: "kubelet.rotate-server-certificates", Probe: Name, Title: "Kubelet serving certificate rotation", Severity: finding.Medium,
			References: []string{cis("4.2.11")}, Condition: condition, Runbook: runbook,
			Remediation: "Set serverTLSBootstrap: true and leave the RotateKubeletServerCertificate feature gate on."},
		{ID: "kubelet.seccomp-default", Probe: Name, Title: "Kubelet default seccomp profile", Severity: finding.Medium,
			References: []string{cis("4.2.14")}, Condition: condition, Runbook: runbook,
			Remediation: "Set seccompDefault: true (or --seccomp-default)."},
		{ID: "kubelet.streaming-idle-timeout", Probe: Name, Title: "Kubelet streaming connection idle timeout", Severity: finding.Medium,
			References: []string{cis("4.2.5")}, Condition: condition, Runbook: runbook,
			Remediation: "Set streamingConnectionIdleTimeout to a non-zero duration such as 5m."},
		{ID: "kubelet.tls-cert", Probe: Name, Title: "Kubelet serving certificate", Severity: finding.High,
			References: []string{cis("4.2.9")}, Condition: condition, Runbook: runbook,
			Remediation: "Set tlsCertFile and tlsPrivateKeyFile, or serverTLSBootstrap: true with certificates approved by the cluster."},
		// The allowed suites are the policy's.
		{ID: "kubelet.tls-cipher-suites", Probe: Name, Title: "Kubelet TLS cipher suites", Severity: finding.Medium,
			References: []string{cis("4.2.12")}, Condition: condition, Runbook: runbook,
			Remediation: "Set tlsCipherSuites to strong suites only: %s"},
	}
	file := func(id, what, mode, own string, sev finding.Severity) {
		base := catalog.Entry{Probe: Name, Severity: sev, Condition: condition, Runbook: runbook}
		es = append(es, FileEntries(base, id, what, []string{cis(mode)}, []string{cis(own)})...)
	}
	file("kubelet.service-file", whatServiceFile, "4.1.1", "4.1.2", finding.Medium)
	file("kubelet.proxy-kubeconfig", whatProxyKubeconfig, "4.1.3", "4.1.4", finding.Medium)
	file("kubelet.kubeconfig", whatKubeconfig, "4.1.5", "4.1.6", finding.High)
	file("kubelet.client-ca", whatClientCA, "4.1.7", "4.1.8", finding.Medium)
	file("kubelet.config-file", whatConfigFile, "4.1.9", "4.1.10", finding.High)
	return es
}
