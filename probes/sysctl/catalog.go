package sysctl

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes the probe's checks (see probes/model/catalog). The keys
// come from the policy, so the family is one entry; each key's title,
// references and remediation are in the policy's profile.
var checks = []catalog.Entry{
	{ID: Name + ".*", Probe: Name, Title: "Kernel parameter (one id per sysctl key of the policy)", Severity: finding.Medium,
		References: []string{refGuidance}, Condition: "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Set the key in /etc/sysctl.d/90-nodeguard.conf and apply it with sysctl --system."},
}
