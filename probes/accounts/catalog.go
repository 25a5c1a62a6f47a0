package accounts

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
// Severities of failures are the policy's (it sets each); the first
// reference is the one a passing finding cites; "%s" is the account's name.
var checks = []catalog.Entry{
	{ID: "accounts.empty-password", Probe: Name, Title: "Accounts without a password", Severity: finding.Critical,
		References: []string{"CIS Distribution Independent Linux 6.2.1"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Lock the account (passwd -l %s) or set a password."},
	{ID: "accounts.passwd", Probe: Name, Title: "/etc/passwd is well-formed", Severity: finding.Medium,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
		Remediation: "Repair the file with vipw / vipw -s, or pwck, which reports every malformed entry."},
	{ID: "accounts.root-lock-ssh", Probe: Name, Title: "root's locked password and key-based SSH login", Severity: finding.Low,
		References: []string{"CIS Distribution Independent Linux 5.2.10", "Kubernetes security guidance 5.3.2"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Set PermitRootLogin no in sshd_config (administrators log in as themselves and use sudo), and remove root's authorized_keys."},
	{ID: "accounts.root-password", Probe: Name, Title: "root's password state", Severity: finding.Critical,
		References: []string{"Kubernetes security guidance 5.3.2", "CIS Distribution Independent Linux 6.2.1"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Lock root's password with passwd -l root."},
	{ID: "accounts.shadow", Probe: Name, Title: "/etc/shadow is well-formed", Severity: finding.Medium,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
		Remediation: "Repair the file with vipw / vipw -s, or pwck, which reports every malformed entry."},
	{ID: "accounts.sudo-all", Probe: Name, Title: "sudo grants of ALL commands", Severity: finding.Medium,
		References: []string{"CIS Distribution Independent Linux 5.3", "Kubernetes security guidance 5.3.2"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Limit the grant to the commands needed, or, if it is intended, add the principal to accounts.sudo.allAllowed in the policy."},
	{ID: "accounts.sudo-nopasswd", Probe: Name, Title: "sudo without a password (NOPASSWD)", Severity: finding.High,
		References: []string{"CIS Distribution Independent Linux 5.3", "Kubernetes security guidance 5.3.2"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Remove the NOPASSWD tag, or, if it is intended, add the principal to accounts.sudo.nopasswdAllowed in the policy."},
	{ID: "accounts.sudoers", Probe: Name, Title: "sudoers files are readable", Severity: finding.Info,

		Condition: "InsecureRemoteAccess", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
	},
	{ID: "accounts.uid0", Probe: Name, Title: "Accounts other than root with user id 0", Severity: finding.Critical,
		References: []string{"CIS Distribution Independent Linux 6.2.5", "Kubernetes security guidance 5.3.2"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Remove %s or give it a non-zero user id (usermod -u); administrators should use their own account and sudo."},
	{ID: "accounts.unshadowed", Probe: Name, Title: "Password hashes in /etc/passwd", Severity: finding.High,
		References: []string{"CIS Distribution Independent Linux 6.2.2"},
		Condition:  "InsecureRemoteAccess", Runbook: "nodeguardinsecureremoteaccess",
		Remediation: "Move the hashes to /etc/shadow with pwconv."},
}
