// Command nodeguard-agent is nodeguard with every command, the agent's (run,
// watch, report) among them. The light nodeguard executes it for those; it
// can be run directly too. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodeguard/nodeguard/agent/cli"
	_ "github.com/nodeguard/nodeguard/agent/cli/agentcmd"
	_ "github.com/nodeguard/nodeguard/probes/all"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
