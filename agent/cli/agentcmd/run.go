package agentcmd

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

	"github.com/nodeguard/nodeguard/agent/cli"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
)

// DefaultListen is the agent's metrics endpoint.
const DefaultListen = ":9809"

// agentGCPercent is `nodeguard run`'s GOGC unless the environment sets one.
const agentGCPercent = 25

// agentConfig is everything `nodeguard run` is told: its flags, parsed once.
type agentConfig struct {
	scan     cli.ScanFlags
	listen   string
	interval time.Duration
	noBPF    bool
	kube     kubeFlags
	metrics  metricsFlags
}

func (c *agentConfig) register(fs *flag.FlagSet) {
	c.scan.Register(fs)
	fs.StringVar(&c.listen, "listen", DefaultListen, "address for /metrics, /healthz and /readyz")
	fs.DurationVar(&c.interval, "interval", 5*time.Minute, "time between scans")
	fs.BoolVar(&c.noBPF, "no-bpf", false, "do not load the eBPF runtime anomaly detection")
	c.kube.register(fs)
	c.metrics.register(fs)
}

func runAgent(ctx context.Context, args []string, io cli.IO) int {
	fs := cli.NewFlagSet("run", io)
	var cfg agentConfig
	cfg.register(fs)
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if cfg.interval < time.Second {
		fmt.Fprintf(io.Stderr, "nodeguard run: --interval %s: must be at least 1s\n", cfg.interval)
		return cli.ExitUsage
	}
	if err := cfg.kube.validate(); err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return cli.ExitUsage
	}
	return startAgent(ctx, cfg, io)
}

// startAgent builds the agent's parts in order, each handed what it needs,
// and runs it until ctx ends:
//
//	scanner → endpoints (service) → API connection → /metrics security →
//	eBPF detector (naming pods through the pod index) → node conditions
//	and Events (following the detector) → systemd notification → run.
func startAgent(ctx context.Context, cfg agentConfig, io cli.IO) int {
	fail := func(err error) int {
		fmt.Fprintf(io.Stderr, "nodeguard run: %v\n", err)
		return cli.ExitUsage
	}
	// Between scans the agent's live heap is about 1 MiB. Go's default
	// (GOGC=100, with a 4 MiB minimum) would keep several MiB of garbage
	// resident until the next scan; collecting sooner costs a few ms of CPU
	// per scan. A GOGC the user sets wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(agentGCPercent)
	}
	sc, log, err := cfg.scan.Scanner(io, nil)
	if err != nil {
		return fail(err)
	}
	defer sc.Root.Close()
	d := service.New(sc, cfg.interval, log)
	if err := d.Listen(cfg.listen); err != nil {
		return fail(err)
	}
	if _, port, err := net.SplitHostPort(d.Listener.Addr().String()); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			sc.AgentListeners = []probes.Listener{{Protocol: "tcp", Port: p}}
		}
	}
	component := func(name string) zerolog.Logger { return log.With().Str("component", name).Logger() }

	conn, err := cfg.kube.connect(sc, component("kube"))
	if err != nil {
		return fail(err)
	}
	if err := cfg.metrics.start(d, cfg.kube.kubeconfig, component("metrics-auth")); err != nil {
		return fail(fmt.Errorf("metrics-auth: %w", err))
	}
	var pods *kube.PodIndex
	if conn != nil && !cfg.noBPF {
		if pods, err = kube.NewPodIndex(conn.client, conn.node, component("pods")); err != nil {
			log.Error().Err(err).Msg("runtime events go without pod names")
			pods = nil
		}
	}
	det := startRuntime(ctx, cfg.noBPF, d, pods, component("runtime"))
	if det != nil && pods != nil {
		go pods.Run(ctx)
	}
	if conn != nil {
		if err := cfg.kube.start(ctx, d, conn, det, component("kube")); err != nil {
			return fail(fmt.Errorf("kube: %w", err))
		}
	}
	if err := startSystemdNotify(ctx, d, component("systemd")); err != nil {
		return fail(fmt.Errorf("systemd: %w", err))
	}
	if err := d.Run(ctx); err != nil {
		log.Error().Err(err).Msg("agent failed")
		return 1
	}
	return cli.ExitOK
}
