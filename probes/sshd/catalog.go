package sshd

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

const (
	guidanceAccess = "Kubernetes security guidance 5.3.2"
	guidanceHarden = "Kubernetes security guidance 5.3.1"
	cisPrefix      = "CIS Distribution Independent Linux "
	runbook        = "nodeguardinsecureremoteaccess"
	condition      = "InsecureRemoteAccess"
)

// checks describes every check of the probe (see probes/model/catalog).
// Severities are the built-in policy's; remediations whose numbers come
// from the policy are completed by the probe.
var checks = []catalog.Entry{
	{ID: IDConfig, Probe: Name, Title: "sshd accepts its configuration", Severity: finding.Critical, Kind: catalog.Input,
		Condition: condition, Runbook: runbook,
		Remediation: "Fix the reported line: sshd will not start (or restart) with this configuration. Check with `sshd -t` or `nodeguard sshd effective`."},
	{ID: IDRootLogin, Probe: Name, Title: "Root login over SSH", Severity: finding.High,
		References: []string{cisPrefix + "5.2.10", guidanceAccess, guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set PermitRootLogin no in sshd_config and remove or change every Match block that sets it otherwise for root; administrators log in as themselves and use sudo."},
	{ID: IDPasswordAuth, Probe: Name, Title: "Password authentication over SSH", Severity: finding.Medium,
		References: []string{guidanceAccess, guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set PasswordAuthentication no and KbdInteractiveAuthentication no in sshd_config and in every Match block, and use keys or certificates."},
	{ID: IDEmptyPasswords, Probe: Name, Title: "Empty passwords over SSH", Severity: finding.Critical,
		References: []string{cisPrefix + "5.2.11", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set PermitEmptyPasswords no in sshd_config and in every Match block."},
	{ID: IDX11Forwarding, Probe: Name, Title: "X11 forwarding", Severity: finding.Low,
		References: []string{cisPrefix + "5.2.6", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set X11Forwarding no in sshd_config and in every Match block."},
	{ID: IDMaxAuthTries, Probe: Name, Title: "MaxAuthTries limit", Severity: finding.Medium,
		References: []string{cisPrefix + "5.2.7", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set MaxAuthTries %d (or lower) in sshd_config and in every Match block."},
	{ID: IDWeakCiphers, Probe: Name, Title: "Weak SSH ciphers", Severity: finding.High,
		References: []string{cisPrefix + "5.2.13", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Remove them, e.g. with \"Ciphers -%s\" in sshd_config."},
	{ID: IDWeakMACs, Probe: Name, Title: "Weak SSH MACs", Severity: finding.High,
		References: []string{cisPrefix + "5.2.14", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Remove them, e.g. with \"MACs -%s\" in sshd_config."},
	{ID: IDWeakKex, Probe: Name, Title: "Weak SSH key exchange algorithms", Severity: finding.High,
		References: []string{cisPrefix + "5.2.15", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Remove them, e.g. with \"KexAlgorithms -%s\" in sshd_config."},
	{ID: IDLoginGraceTime, Probe: Name, Title: "LoginGraceTime limit", Severity: finding.Low,
		References: []string{cisPrefix + "5.2.17", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set LoginGraceTime %d (or lower, but not 0, which means no limit) in sshd_config."},
	{ID: IDClientAlive, Probe: Name, Title: "Idle SSH session limits", Severity: finding.Low,
		References: []string{cisPrefix + "5.2.16", guidanceHarden}, Condition: condition, Runbook: runbook,
		Remediation: "Set ClientAliveInterval to 1-%d seconds and ClientAliveCountMax to 1-%d in sshd_config."},
	{ID: IDAccessRestriction, Probe: Name, Title: "SSH access limited to named users or groups", Severity: finding.Medium,
		References: []string{cisPrefix + "5.2.18", guidanceAccess}, Condition: condition, Runbook: runbook,
		Remediation: "Add AllowGroups (for example a dedicated ssh-users group) or AllowUsers to sshd_config."},
}
