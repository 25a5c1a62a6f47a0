package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nodeguard/nodeguard/agent/daemon"
	"github.com/nodeguard/nodeguard/probes"
)

// DefaultListen is the agent's metrics endpoint.
const DefaultListen = ":9809"

func init() {
	Register(Command{Name: "run", Summary: "run as an agent: rescan periodically and serve /metrics", Run: runAgent})
}

func runAgent(ctx context.Context, args []string, io IO) int {
	fs := newFlagSet("run", io)
	var sf scanFlags
	sf.register(fs)
	listen := fs.String("listen", DefaultListen, "address for /metrics, /healthz and /readyz")
	interval := fs.Duration("interval", 5*time.Minute, "time between scans")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *interval < time.Second {
		fmt.Fprintf(io.Stderr, "nodeguard run: --interval %s: must be at least 1s\n", *interval)
		return ExitUsage
	}
	sc, log, err := sf.scanner(io, nil)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return ExitUsage
	}
	defer sc.Root.Close()
	d := daemon.New(sc, *interval, log)
	if err := d.Listen(*listen); err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return ExitUsage
	}
	if _, port, err := net.SplitHostPort(d.Listener.Addr().String()); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			sc.AgentListeners = []probes.Listener{{Protocol: "tcp", Port: p}}
		}
	}
	if err := d.Run(ctx); err != nil {
		log.Error().Err(err).Msg("agent failed")
		return 1
	}
	return ExitOK
}
