// Command nodeguard audits a Kubernetes node. See README.md.
//
// This is the light executable: it links the one-shot commands (scan,
// version, sshd effective, kubelet effective) and none of the agent's
// dependencies, so that they start fast; for run, watch and report it
// executes nodeguard-agent, installed next to it (agent/cli/forward).
package main

import (
	"github.com/nodeguard/nodeguard/agent/cli"
	_ "github.com/nodeguard/nodeguard/agent/cli/forward"
	_ "github.com/nodeguard/nodeguard/probes/all"
)

func main() { cli.Run() }
