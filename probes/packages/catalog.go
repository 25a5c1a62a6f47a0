package packages

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

const (
	condition = "SecurityUpdatesPending"
	runbook   = "nodeguardsecurityupdatespending"
)

// patchRefs are the references of every patch-level check.
var patchRefs = []string{"CIS Distribution Independent Linux 1.8", "Kubernetes security guidance 4.1"}

// checks describes every check of the probe (see probes/model/catalog). The
// probe reads references, fixed titles and remediations here; the policy
// sets the severities, except that of updates of unknown security. The
// inventory and security-updates remediations here are the general advice:
// findings give the host's package manager's commands.
var checks = []catalog.Entry{
	{ID: IDInput, Probe: Name, Title: "Package data could be read", Severity: finding.High, Kind: catalog.Input,
		Condition: condition, Runbook: "nodeguardchecksfailing",
		Remediation: "Repair or regenerate the file (apt-get update, dnf makecache or apk update refresh package metadata); it was left out of the counts."},
	{ID: IDVulnerability, Probe: Name, Title: "Known vulnerabilities (OSV advisory bundle)", Severity: finding.High,
		References: patchRefs, Condition: condition, Runbook: "nodeguardknownvulnerabilities",
		Remediation: "Upgrade the package to a fixed version."},
	{ID: IDInventory, Probe: Name, Title: "Package inventory and list freshness", Severity: finding.Info,
		References: patchRefs, Condition: condition, Runbook: runbook,
		Remediation: "Refresh the package lists (apt-get update, dnf makecache or apk update)."},
	{ID: IDRebootRequired, Probe: Name, Title: "Reboot required", Severity: finding.Medium,
		References: patchRefs, Condition: condition, Runbook: runbook,
		Remediation: "Drain the node (kubectl drain), reboot it, and uncordon it."},
	{ID: IDSecurityUpdates, Probe: Name, Title: "Security updates pending", Severity: finding.Low,
		References: patchRefs, Condition: condition, Runbook: runbook,
		Remediation: "Install the updates and drain and reboot the node if the kernel or the C library changed."},
}
