package ports

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() { catalog.Register(checks...) }

var (
	guidanceRef = "Kubernetes security guidance 5.4.1"
	// guidanceRefs is shared by every finding; its capacity equals its
	// length, so an append by a consumer copies rather than writes into it.
	guidanceRefs = []string{guidanceRef}
)

// listenerEntry is the entry judge reads once per socket; a variable rather than
// a catalogue lookup keeps the lookup out of that loop. The policy sets the
// severities; titles name the rule that applied.
var listenerEntry = catalog.Entry{ID: IDListener, Probe: Name, Title: "Listeners allowed by the port policy", Severity: finding.High,
	References: guidanceRefs, Condition: "UnexpectedOpenPorts", Runbook: "nodeguardunexpectedopenport",
	Remediation: "Stop or rebind the service, or, if it is meant to be there, allow it in the policy file (ports.allow)."}

// checks describes every check of the probe (see probes/model/catalog).
var checks = []catalog.Entry{
	listenerEntry,
	// The remediation is for owners that could not be identified for lack
	// of privilege.
	{ID: IDOwners, Probe: Name, Title: "Socket owners are readable", Severity: finding.High,
		Condition: "UnexpectedOpenPorts", Runbook: "nodeguardchecksfailing", Kind: catalog.Input,
		Remediation: "Run nodeguard as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, with the host's PID namespace (hostPID: true)."},
	{ID: IDSockets, Probe: Name, Title: "Socket tables are readable", Severity: finding.High,
		Condition: "UnexpectedOpenPorts", Runbook: "nodeguardchecksfailing", Kind: catalog.Input},
}
