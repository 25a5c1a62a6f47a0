// Package forward gives the light nodeguard the agent's commands (run, watch,
// report): each replaces the process with the nodeguard-agent executable
// installed next to nodeguard's own, with the same arguments and
// environment. The process keeps its PID, so the container's PID 1 and a
// systemd Type=notify service (NOTIFY_SOCKET, MAINPID) are the agent itself.
package forward

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/nodeguard/nodeguard/agent/cli"
)

func init() {
	for _, c := range cli.AgentCommands() {
		c.Via = cli.AgentExecutable
		c.Run = func(_ context.Context, args []string, io cli.IO) int {
			return execAgent(c.Name, args, io)
		}
		cli.Register(c)
	}
}

// AgentPath is where the light nodeguard looks for nodeguard-agent: in the
// directory of its own executable, symlinks resolved.
func AgentPath() (string, error) { return cli.Beside(cli.AgentExecutable) }

// execAgent runs `nodeguard-agent name args...` in place of this process; it
// returns only when it cannot.
func execAgent(name string, args []string, io cli.IO) int {
	path, err := AgentPath()
	if err == nil {
		argv := append([]string{cli.AgentExecutable, name}, args...)
		err = syscall.Exec(path, argv, os.Environ())
		switch {
		case errors.Is(err, syscall.ENOENT):
			err = fmt.Errorf("%s: not found", path)
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC):
			err = fmt.Errorf("%s: not an executable file", path)
		case err != nil:
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	fmt.Fprintf(io.Stderr, "nodeguard %s: %v (the agent's commands are in %s, installed next to nodeguard)\n",
		name, err, cli.AgentExecutable)
	return cli.ExitUsage
}
