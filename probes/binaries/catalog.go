package binaries

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

var checks = []catalog.Entry{
	{ID: IDVulnerability, Probe: Name, Title: "Known vulnerabilities in Go binaries (OSV advisory bundle)", Severity: finding.High,
		References: []string{"Kubernetes security guidance 4.1", "Kubernetes security guidance 5.8"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardknownvulnerabilities",
		Remediation: "Replace the binary with a release built from the fixed module version (or a newer Go toolchain for stdlib advisories), then restart what runs it."},
}
