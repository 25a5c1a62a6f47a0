package packages

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
var checks = []catalog.Entry{
	{ID: IDInput, Probe: Name, Title: "Package data could be read", Severity: finding.High, Kind: catalog.Input,
		Condition: "SecurityUpdatesPending", Runbook: "nodeguardchecksfailing"},
	{ID: IDVulnerability, Probe: Name, Title: "Known vulnerabilities (OSV advisory bundle)", Severity: finding.High,
		References: patchRefs, Condition: "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Upgrade the affected packages to a fixed version."},
	{ID: "packages.inventory", Probe: Name, Title: "Package inventory and list freshness", Severity: finding.Info,
		References: []string{"CIS Distribution Independent Linux 1.8", "Kubernetes security guidance 4.1"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Refresh the package lists (apt-get update, dnf makecache or apk update)."},
	{ID: "packages.reboot-required", Probe: Name, Title: "Reboot required", Severity: finding.Medium,
		References: []string{"CIS Distribution Independent Linux 1.8", "Kubernetes security guidance 4.1"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Drain the node (kubectl drain), reboot it, and uncordon it."},
	{ID: "packages.security-updates", Probe: Name, Title: "Security updates pending", Severity: finding.Low,
		References: []string{"CIS Distribution Independent Linux 1.8", "Kubernetes security guidance 4.1"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Install the updates and drain and reboot the node if the kernel or the C library changed."},
}
