package kmod

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
var checks = []catalog.Entry{
	{ID: "kmod.denied-module", Probe: Name, Title: "Denied kernel modules", Severity: finding.High,
		References: []string{"CIS Distribution Independent Linux 1.1.1.1", "Kubernetes security guidance 5.3.1"},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Unload it (modprobe -r MODULE) once nothing uses it. Create /etc/modprobe.d/MODULE.conf with \"install MODULE /bin/false\" and \"blacklist MODULE\"."},
	{ID: "kmod.modprobe-config", Probe: Name, Title: "modprobe configuration is readable", Severity: finding.Low,

		Condition: "KernelHardeningViolation", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
		Remediation: "Fix or remove the line; kmod skips it."},
	{ID: "kmod.module-loading", Probe: Name, Title: "Kernel module loading", Severity: finding.Info,
		References: []string{"Kubernetes security guidance 5.3.1"},
		Condition:  "KernelHardeningViolation", Runbook: "nodeguardkernelhardeningviolation",
		Remediation: "Once every module the node needs is loaded at boot, set kernel.modules_disabled=1 (it cannot be unset until reboot)."},
}
