package agentcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/agent/release"
	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// kubeRoleLookupTimeout bounds the node lookup before the first scan, so an
// unreachable API server delays the agent's start by at most this much.
const kubeRoleLookupTimeout = 5 * time.Second

type kubeFlags struct {
	kubeconfig string
	nodeName   string
	noKube     bool
	qps        float64
	burst      int
	heartbeat  time.Duration
	// anomalyWindow is how long RuntimeAnomalyDetected stays True after the
	// last high or critical runtime event.
	anomalyWindow time.Duration
	// reports is what the agent writes besides conditions and Events:
	// "openreports" (a ClusterReport per node) or "none".
	reports string
}

func (f *kubeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for the Kubernetes API (default: in-cluster service account, else $KUBECONFIG)")
	fs.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "the Node whose conditions the agent maintains (default $NODE_NAME, else the host name)")
	fs.BoolVar(&f.noKube, "no-kube", false, "do not talk to the Kubernetes API (no node conditions or Events)")
	fs.Float64Var(&f.qps, "kube-qps", 5, "sustained requests per second to the Kubernetes API")
	fs.IntVar(&f.burst, "kube-burst", 10, "burst of requests to the Kubernetes API")
	fs.DurationVar(&f.heartbeat, "heartbeat-period", kube.DefaultHeartbeatPeriod, "how often unchanged node conditions are re-stamped (lastHeartbeatTime)")
	fs.StringVar(&f.reports, "reports", "openreports", "report objects to keep in the API: openreports (one OpenReports ClusterReport per node, where its CRD is installed) or none")
	fs.DurationVar(&f.anomalyWindow, "runtime-anomaly-window", kube.DefaultRuntimeAnomalyWindow, "how long the RuntimeAnomalyDetected condition stays True after the last high or critical runtime event")
}

func (f *kubeFlags) validate() error {
	if f.noKube {
		return nil
	}
	switch {
	case f.qps <= 0:
		return fmt.Errorf("--kube-qps %g: must be positive", f.qps)
	case f.burst < 1:
		return fmt.Errorf("--kube-burst %d: must be at least 1", f.burst)
	case f.heartbeat < time.Second:
		return fmt.Errorf("--heartbeat-period %s: must be at least 1s", f.heartbeat)
	case f.anomalyWindow < time.Second:
		return fmt.Errorf("--runtime-anomaly-window %s: must be at least 1s", f.anomalyWindow)
	case f.reports != "openreports" && f.reports != "none":
		return fmt.Errorf("--reports %q: want openreports or none", f.reports)
	}
	return nil
}

// kubeConn is the agent's connection to the Kubernetes API and the Node it
// speaks for.
type kubeConn struct {
	client *apiclient.Client
	host   string
	node   string
}

// connect makes the API client, or returns nil when the agent runs without
// the API (--no-kube, or no configuration to be found). It settles the node
// name, which the scanner reports too.
func (f *kubeFlags) connect(sc *scan.Scanner, log zerolog.Logger) (*kubeConn, error) {
	if f.noKube {
		log.Info().Msg("--no-kube: node conditions and Events are off")
		return nil, nil
	}
	cfg, err := kube.RESTConfig(f.kubeconfig)
	if errors.Is(err, kube.ErrNoConfig) {
		log.Warn().Msg(err.Error() + "; node conditions are off (pass --no-kube to silence this)")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst
	cfg.Timeout = 30 * time.Second
	cfg.UserAgent = "nodeguard/" + release.Version
	kube.RouteKlog(log)
	client, err := apiclient.New(cfg)
	if err != nil {
		return nil, err
	}
	node := f.nodeName
	if node == "" {
		node = sc.Node
		log.Info().Str("node", node).Msg("--node-name and NODE_NAME unset; using the host name")
	}
	sc.Node = node
	return &kubeConn{client: client, host: cfg.Host, node: node}, nil
}

// start maintains the node's conditions and Events through conn; with a
// detector, RuntimeAnomalyDetected and runtime Events follow it.
func (f *kubeFlags) start(ctx context.Context, d *service.Daemon, conn *kubeConn, det *anomaly.Detector, log zerolog.Logger) error {
	client, node := conn.client, conn.node
	// The role from the node's labels wins over host detection, unless
	// --role fixed it. The scanner is only touched before Run and from a
	// report subscriber (the scan loop's goroutine), so never mid-scan.
	followRole := d.Scanner.Role == ""
	var reports *kube.ReportWriter
	if f.reports == "openreports" {
		var err error
		reports, err = kube.NewReportWriter(kube.ReportWriterOptions{
			Client: client, NodeName: node, Registerer: d.Registry,
			Log: log.With().Str("component", "reports").Logger(),
		})
		if err != nil {
			// A node whose report cannot be named (a name of over 243
			// characters) keeps its conditions and Events.
			log.Error().Err(err).Msg("no OpenReports ClusterReport for this node")
			reports = nil
		}
	}
	m, err := kube.New(kube.Options{
		Client: client, NodeName: node, HeartbeatPeriod: f.heartbeat, Log: log,
		Registerer: d.Registry, FollowNodeRole: followRole,
		OnNodeRole: func(probes.Role, string) {
			if followRole {
				d.Trigger()
			}
		},
		OnNode: func(n *corev1.Node) {
			if reports != nil {
				reports.NodeSeen(n)
			}
		},
	})
	if err != nil {
		return err
	}
	if followRole {
		lctx, cancel := context.WithTimeout(ctx, kubeRoleLookupTimeout)
		err := m.LookupNode(lctx)
		cancel()
		d.Scanner.KubeletVersion = m.KubeletVersion()
		if r, reason, ok := m.NodeRole(); ok {
			d.Scanner.Role, d.Scanner.RoleReason = r, reason
		} else {
			log.Info().AnErr("error", err).Msg("node role from host detection until the API is reachable")
		}
		d.Subscribe(func(rep *finding.Report) {
			r, reason, ok := m.NodeRole()
			if ok && (r != d.Scanner.Role || reason != d.Scanner.RoleReason) {
				d.Scanner.Role, d.Scanner.RoleReason = r, reason
				if string(r) != rep.Role {
					d.Trigger()
				}
			}
		})
	}
	// The kubelet probe judges with the version the Node reports, from the
	// next scan on (same goroutine rule as the role above).
	d.Subscribe(func(*finding.Report) { d.Scanner.KubeletVersion = m.KubeletVersion() })
	d.Subscribe(m.Observe)
	d.AddReadyCheck("kube", m.Ready)
	// Without a detector (--no-bpf, or a kernel without eBPF) the
	// condition is absent.
	if det != nil {
		go followRuntime(ctx, det, m, f.anomalyWindow)
	}
	go m.Run(ctx)
	if reports != nil {
		d.Subscribe(reports.Observe)
		go reports.Run(ctx)
	}
	log.Info().Str("node", node).Str("host", conn.host).Str("heartbeatPeriod", f.heartbeat.String()).Msg("maintaining node conditions")
	return nil
}

// followRuntime feeds runtime rule matches to RuntimeAnomalyDetected (True
// while a high or critical rule matched within window, the message naming the
// latest match) and records each match as an Event on the Node.
func followRuntime(ctx context.Context, det *anomaly.Detector, m *kube.Manager, window time.Duration) {
	w := &kube.AnomalyWindow{Window: window, MessageEvery: time.Minute, Set: m.SetRuntimeAnomaly}
	w.Start()
	events, cancel := det.Subscribe(256)
	defer cancel()
	tick := time.NewTicker(min(15*time.Second, window/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				m.ClearRuntimeAnomaly() // the detector stopped: no verdict any more
				return
			}
			m.RuntimeEvent(&ev)
			msg := ev.Message
			if ev.Pod != "" {
				msg = fmt.Sprintf("%s (pod %s/%s)", msg, ev.Namespace, ev.Pod)
			}
			w.Match(time.Now(), ev.Rule, ev.Severity, msg)
		case now := <-tick.C:
			w.Tick(now)
		}
	}
}
