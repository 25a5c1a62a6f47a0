package kmod

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
// Severities of failures are the policy's. Each denied module's own
// references are in the policy's denylist; its entry holds the shared ones.
// "%[1]s" is the module's name.
var checks = []catalog.Entry{
	{ID: "kmod.denied-module", Probe: Name, Title: "Denied kernel modules", Severity: finding.High,
		References: []string{refGuidance},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Unload it (modprobe -r %[1]s) once nothing uses it. " + disableConf + "."},
	{ID: "kmod.modprobe-config", Probe: Name, Title: "modprobe configuration is readable", Severity: finding.Low,

		Condition: "KernelHardeningViolation", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
		Remediation: "Fix or remove the line; kmod skips it."},
	{ID: "kmod.module-loading", Probe: Name, Title: "Kernel module loading", Severity: finding.Info,
		References: []string{refGuidance},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Once every module the node needs is loaded at boot, set kernel.modules_disabled=1 (it cannot be unset until reboot)."},
}
