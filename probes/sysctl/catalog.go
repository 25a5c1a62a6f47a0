package sysctl

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes the probe's checks (see probes/model/catalog). The keys
// come from the policy, so the family is one entry. Each key's severity,
// reason and own references are the policy's; the entry holds what every
// key shares: the guidance reference and the remediation, whose verbs are
// the key and the value to set.
var checks = []catalog.Entry{
	{ID: Name + ".*", Probe: Name, Title: "Kernel parameter (one id per sysctl key of the policy)", Severity: finding.Medium,
		References: []string{refGuidance}, Condition: "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Set %s = %s in /etc/sysctl.d/90-nodeguard.conf and apply it with sysctl --system."},
}
