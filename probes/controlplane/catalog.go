package controlplane

import (
	"github.com/nodeguard/nodeguard/probes/kubelet"
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
		base := catalog.Entry{Probe: Name, Severity: finding.High, Condition: condition, Runbook: runbook}
		return kubelet.FileEntries(base, id, what, []string{cis(mode)}, []string{cis(own)})
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
