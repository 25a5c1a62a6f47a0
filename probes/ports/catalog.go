package ports

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

// checks describes every check of the probe (see probes/model/catalog).
var checks = []catalog.Entry{
	{ID: "ports.listener", Probe: Name, Title: "Listeners allowed by the port policy", Severity: finding.High,
		References: []string{"Kubernetes security guidance 5.4.1"},
		Condition:  "UnexpectedOpenPorts", Runbook: "nodeguardunexpectedopenport",
		Remediation: "Stop or rebind the service, or, if it is meant to be there, allow it in the policy file (ports.allow)."},
	{ID: "ports.owners", Probe: Name, Title: "Socket owners are readable", Severity: finding.High,

		Condition: "UnexpectedOpenPorts", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
	},
	{ID: "ports.sockets", Probe: Name, Title: "Socket tables are readable", Severity: finding.High,

		Condition: "UnexpectedOpenPorts", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
	},
}
