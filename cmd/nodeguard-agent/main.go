// Command nodeguard-agent is nodeguard with every command, the agent's (run,
// watch, report) among them. The light nodeguard executes it for those; it
// can be run directly too. See README.md.
package main

import (
	"github.com/nodeguard/nodeguard/agent/cli"
	_ "github.com/nodeguard/nodeguard/agent/cli/agentcmd"
	_ "github.com/nodeguard/nodeguard/probes/all"
)

func main() { cli.Run() }
