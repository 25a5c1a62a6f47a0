package controlplane

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks()...) }

const (
	condition = "InsecureKubeletConfig"
	runbook   = "nodeguardinsecurekubeletconfig"
	inputs    = "nodeguardchecksfailing"
)

// checks describes every check of the probe (see probes/model/catalog). The
// flag checks come from the components table, which stays their one source.
func checks() []catalog.Entry {
	es := []catalog.Entry{
		{ID: "controlplane.role", Probe: Name, Title: "Control-plane node", Severity: finding.Info, Kind: catalog.Notice,
			References: []string{cis("1")}, Exempt: "says only that the checks do not apply to a worker", Runbook: runbook},
	}
	file := func(id, what, mode, own string) []catalog.Entry {
		return []catalog.Entry{
			{ID: id + "-permissions", Probe: Name, Title: what + " permissions", Severity: finding.High,
				References: []string{cis(mode)}, Condition: condition, Runbook: runbook, Remediation: "chmod 600 the file."},
			{ID: id + "-ownership", Probe: Name, Title: what + " ownership", Severity: finding.High,
				References: []string{cis(own)}, Condition: condition, Runbook: runbook, Remediation: "chown root:root the file."},
		}
	}
	for _, c := range components {
		es = append(es, catalog.Entry{ID: "controlplane." + c.name, Probe: Name, Title: c.name + " static pod manifest",
			Severity: finding.High, Kind: catalog.Input, References: []string{cis("1")}, Condition: condition, Runbook: inputs})
		es = append(es, file("controlplane."+c.name+"-manifest", c.name+" manifest", c.modeRef, c.ownRef)...)
		for _, fc := range c.checks {
			es = append(es, catalog.Entry{ID: "controlplane." + fc.id, Probe: Name, Title: fc.title, Severity: fc.sev,
				References: []string{cis(fc.ref)}, Condition: condition, Runbook: runbook,
				Remediation: "Set " + fc.fix + " in the " + c.name + " static pod manifest."})
		}
	}
	es = append(es, file("controlplane.kubeconfig", "Control-plane kubeconfig", "1.1.13", "1.1.14")...)
	es = append(es, file("controlplane.pki-cert", "PKI certificate", "1.1.20", "1.1.19")...)
	es = append(es, file("controlplane.pki-key", "PKI key", "1.1.21", "1.1.19")...)
	return es
}
