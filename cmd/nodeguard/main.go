// Command nodeguard audits a Kubernetes node. See README.md.
//
// This is the light executable: it links the one-shot commands (scan,
// version, sshd effective, kubelet effective) and none of the agent's
// dependencies, so that they start fast; for run, watch and report it
// executes nodeguard-agent, installed next to it (agent/cli/forward).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodeguard/nodeguard/agent/cli"
	_ "github.com/nodeguard/nodeguard/agent/cli/forward"
	_ "github.com/nodeguard/nodeguard/probes/all"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
