package controlplane

import (
	"slices"

	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks()...) }

// whatKubeconfig is what the kubeconfig file checks call those files.
const whatKubeconfig = "Control-plane kubeconfig"

const (
	condition = "InsecureKubeletConfig"
	runbook   = "nodeguardinsecurekubeletconfig"
	inputs    = "nodeguardchecksfailing"
)

// checks describes every check of the probe (see probes/model/catalog). The
// flag checks come from the components table, which stays their one source;
// the probe reads titles, severities, references and remediations here.
func checks() []catalog.Entry {
	es := []catalog.Entry{
		{ID: "controlplane.role", Probe: Name, Title: "Control-plane node", Severity: finding.Info, Kind: catalog.Notice,
			References: []string{cis("1")}, Exempt: "says only that the checks do not apply to a worker", Runbook: runbook},
	}
	base := catalog.Entry{Probe: Name, Severity: finding.High, Condition: condition, Runbook: runbook}
	file := func(id, what string, modes, owns []string) []catalog.Entry {
		return kubelet.FileEntries(base, id, what, modes, owns)
	}
	for _, c := range components {
		es = append(es, catalog.Entry{ID: "controlplane." + c.name, Probe: Name, Title: c.name + " static pod manifest",
			Severity: finding.High, Kind: catalog.Input, References: []string{cis("1")}, Condition: condition, Runbook: inputs})
		es = append(es, file("controlplane."+c.name+"-manifest", c.name+" manifest", []string{cis(c.modeRef)}, []string{cis(c.ownRef)})...)
		for _, fc := range c.checks {
			ref := cis(fc.ref)
			if fc.ref == "" {
				// The insecure port is gone from the benchmark (and from
				// the API server since v1.20); cite where it was.
				ref = "CIS Kubernetes v1.6.0 1.2.19"
			}
			es = append(es, catalog.Entry{ID: "controlplane." + fc.id, Probe: Name, Title: fc.title, Severity: fc.sev,
				References: []string{ref}, Condition: condition, Runbook: runbook,
				Remediation: "Set " + fc.fix + " in %s."}) // %s: the manifest's path
		}
	}
	// Each kubeconfig file has its own CIS ids; the entries list them all.
	var modes, owns []string
	for _, k := range kubeconfigs {
		if !slices.Contains(modes, cis(k.mode)) {
			modes, owns = append(modes, cis(k.mode)), append(owns, cis(k.own))
		}
	}
	es = append(es, file("controlplane.kubeconfig", whatKubeconfig, modes, owns)...)
	// Ownership of all PKI files is CIS 1.1.19.
	es = append(es, file("controlplane.pki-cert", "PKI certificate", []string{cis("1.1.20")}, []string{cis("1.1.19")})...)
	es = append(es, file("controlplane.pki-key", "PKI key", []string{cis("1.1.21")}, []string{cis("1.1.19")})...)
	es = append(es, catalog.Entry{ID: "controlplane.pki-ownership", Probe: Name, Title: "PKI directory and other file ownership",
		Severity: finding.High, References: []string{cis("1.1.19")}, Condition: condition, Runbook: runbook,
		Remediation: "Make %[2]s owned by %[1]s (chown)."})
	// 1.1.12's owner is etcd's account, not root: etcd.go judges it.
	es = append(es, file("controlplane.etcd-data-dir", "etcd data directory", []string{cis("1.1.11")}, nil)[0])
	es = append(es, catalog.Entry{ID: "controlplane.etcd-data-dir-ownership", Probe: Name, Title: "etcd data directory ownership",
		Severity: finding.High, References: []string{cis("1.1.12")}, Condition: condition, Runbook: runbook,
		Remediation: "Make %[2]s owned by %[1]s (chown -R)."})
	return es
}
