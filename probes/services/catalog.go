package services

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
// The unneeded services (telnet, rsh, tftp, vsftpd, snmpd, rpcbind...) are
// ways into the node over the network, so they feed InsecureRemoteAccess
// with sshd and accounts; auditd is the kernel's audit trail, so a missing
// one feeds KernelHardeningViolation. Severities of failures and each
// service's own references are the policy's; the entries hold the shared
// reference, and "%s" in a remediation is the service's units.
var checks = []catalog.Entry{
	{ID: "services.required", Probe: Name, Title: "Required services enabled (auditd)", Severity: finding.Medium,
		References: []string{refGuidance},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Install it and enable it (systemctl enable --now %s)."},
	{ID: "services.systemd", Probe: Name, Title: "systemd is the init system", Severity: finding.Info,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess", Kind: catalog.Notice,
	},
	{ID: "services.unit-files", Probe: Name, Title: "systemd unit files are readable", Severity: finding.Low,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
	},
	{ID: "services.unneeded", Probe: Name, Title: "Unneeded network services disabled", Severity: finding.High,
		References: []string{refGuidance},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Stop and disable it (systemctl disable --now %s), or remove its package; if the node needs it, drop it from services.unneeded in the policy."},
}
