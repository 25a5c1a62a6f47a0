package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
)

// DefaultListen is the agent's metrics endpoint.
const DefaultListen = ":9809"

// agentGCPercent is `nodeguard run`'s GOGC unless the environment sets one.
const agentGCPercent = 25

func init() {
	Register(Command{Name: "run", Summary: "run as an agent: rescan periodically and serve /metrics", Run: runAgent})
}

// RunExtension plugs a feature into `nodeguard run` (node conditions, eBPF
// runtime detection, ...) from a file of its own: it adds its flags, then
// starts before the first scan. Start may adjust the daemon (subscribe to
// reports, add ready checks, fix the scanner's role) and should return quickly,
// leaving long-running work in goroutines that end with ctx.
type RunExtension struct {
	Name  string
	Flags func(fs *flag.FlagSet)
	Start func(ctx context.Context, d *service.Daemon, log zerolog.Logger) error
}

var runExtensions []RunExtension

// RegisterRunExtension adds an extension; call it from init.
func RegisterRunExtension(e RunExtension) { runExtensions = append(runExtensions, e) }

func runAgent(ctx context.Context, args []string, io IO) int {
	fs := newFlagSet("run", io)
	var sf scanFlags
	sf.register(fs)
	listen := fs.String("listen", DefaultListen, "address for /metrics, /healthz and /readyz")
	interval := fs.Duration("interval", 5*time.Minute, "time between scans")
	for _, e := range runExtensions {
		if e.Flags != nil {
			e.Flags(fs)
		}
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *interval < time.Second {
		fmt.Fprintf(io.Stderr, "nodeguard run: --interval %s: must be at least 1s\n", *interval)
		return ExitUsage
	}
	// Between scans the agent's live heap is about 1 MiB. Go's default
	// (GOGC=100, with a 4 MiB minimum) would keep several MiB of garbage
	// resident until the next scan; collecting sooner costs a few ms of CPU
	// per scan. A GOGC the user sets wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(agentGCPercent)
	}
	sc, log, err := sf.scanner(io, nil)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return ExitUsage
	}
	defer sc.Root.Close()
	d := service.New(sc, *interval, log)
	if err := d.Listen(*listen); err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return ExitUsage
	}
	if _, port, err := net.SplitHostPort(d.Listener.Addr().String()); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			sc.AgentListeners = []probes.Listener{{Protocol: "tcp", Port: p}}
		}
	}
	for _, e := range runExtensions {
		if e.Start == nil {
			continue
		}
		if err := e.Start(ctx, d, log.With().Str("component", e.Name).Logger()); err != nil {
			fmt.Fprintf(io.Stderr, "nodeguard run: %s: %v\n", e.Name, err)
			return ExitUsage
		}
	}
	if err := d.Run(ctx); err != nil {
		log.Error().Err(err).Msg("agent failed")
		return 1
	}
	return ExitOK
}
