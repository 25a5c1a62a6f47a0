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
// one feeds KernelHardeningViolation.
var checks = []catalog.Entry{
	{ID: "services.required", Probe: Name, Title: "Required services enabled (auditd)", Severity: finding.Medium,
		References: []string{"CIS Distribution Independent Linux 4.1.1.2", "Kubernetes security guidance 5.3.1"},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Install it and enable it (systemctl enable --now UNIT)."},
	{ID: "services.systemd", Probe: Name, Title: "systemd is the init system", Severity: finding.Info,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess", Kind: catalog.Notice,
	},
	{ID: "services.unit-files", Probe: Name, Title: "systemd unit files are readable", Severity: finding.Low,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
	},
	{ID: "services.unneeded", Probe: Name, Title: "Unneeded network services disabled", Severity: finding.High,
		References: []string{"CIS Distribution Independent Linux 2.1.8", "Kubernetes security guidance 5.3.1"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Stop and disable it (systemctl disable --now UNIT...), or remove its package; if the node needs it, drop it from services.unneeded in the policy."},
}
