// Package agentcmd holds the agent's commands of the nodeguard command line:
// run, watch and report. They link Prometheus, client-go and the eBPF
// detector, so only nodeguard-agent imports this package; the light
// nodeguard hands these commands to it (agent/cli/forward).
package agentcmd

import (
	"context"

	"github.com/nodeguard/nodeguard/agent/cli"
)

func init() {
	runs := map[string]func(context.Context, []string, cli.IO) int{
		"run": runAgent, "watch": watch, "report": runReport,
	}
	for _, c := range cli.AgentCommands() {
		c.Run = runs[c.Name]
		cli.Register(c)
	}
}
