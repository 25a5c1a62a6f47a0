package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// runtimeDetector is the running detector of `nodeguard run`, for other run
// extensions (Kubernetes events, the RuntimeAnomalyDetected condition) to
// Subscribe to; nil when eBPF is off or unavailable. Set before the first
// scan, in registration order.
var runtimeDetector atomic.Pointer[anomaly.Detector]

// RuntimeDetector returns the detector started by `nodeguard run`, or nil.
func RuntimeDetector() *anomaly.Detector { return runtimeDetector.Load() }

// runtimePods names the pods of runtime events once the Kubernetes extension
// has an API to ask; the detector is built before that, so it gets this
// late-bound resolver, which knows no pod until Set.
var runtimePods lateResolver

type lateResolver struct {
	r atomic.Pointer[anomaly.PodResolver]
}

// Set makes r the resolver that Lookup asks.
func (l *lateResolver) Set(r anomaly.PodResolver) { l.r.Store(&r) }

// Lookup implements anomaly.PodResolver.
func (l *lateResolver) Lookup(containerID string) (namespace, pod, container string, ok bool) {
	r := l.r.Load()
	if r == nil {
		return "", "", "", false
	}
	return (*r).Lookup(containerID)
}

func init() {
	var noBPF bool
	RegisterRunExtension(RunExtension{
		Name: "runtime",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&noBPF, "no-bpf", false, "do not load the eBPF runtime anomaly detection")
		},
		Start: func(ctx context.Context, d *service.Daemon, log zerolog.Logger) error {
			pol := policy.Section[anomaly.Policy](d.Scanner.Policy, anomaly.PolicySection)
			if noBPF {
				log.Info().Msg("eBPF runtime detection off (--no-bpf)")
				d.Registry.MustRegister(anomaly.NewCollector(nil, pol.NamespaceLabel))
				return nil
			}
			var currentRole atomic.Value
			if d.Scanner.Role != "" {
				currentRole.Store(d.Scanner.Role)
			} else {
				r, _ := role.Detect(d.Scanner.Root)
				currentRole.Store(r)
			}
			d.Subscribe(func(rep *finding.Report) {
				if rep.Role != "" {
					currentRole.Store(probes.Role(rep.Role))
				}
			})
			det, err := anomaly.Start(ctx, anomaly.Options{
				Root: d.Scanner.Root, Policy: d.Scanner.Policy, Log: log,
				Role:           func() probes.Role { return currentRole.Load().(probes.Role) },
				AgentListeners: d.Scanner.AgentListeners,
				Pods:           &runtimePods,
			})
			if err != nil {
				// The agent's scans are still worth having without eBPF.
				log.Error().Err(err).Msg("eBPF runtime detection unavailable; every rule reports nodeguard_bpf_rule_active 0")
				d.Registry.MustRegister(anomaly.NewCollector(nil, pol.NamespaceLabel))
				return nil
			}
			// The programs load in the background (the detector logs each
			// refusal with the verifier's last lines); /readyz names the
			// hooks still loading, and the inactive rules are said once.
			go func() {
				select {
				case <-det.Loaded():
				case <-ctx.Done():
					return
				}
				for _, st := range det.Rules() {
					if !st.Active {
						log.Warn().Str("rule", st.Rule.String()).Msg(st.Reason)
					}
				}
			}()
			d.Registry.MustRegister(anomaly.NewCollector(det, pol.NamespaceLabel))
			d.AddReadyCheck("runtime", func() error {
				if loading := det.Loading(); len(loading) > 0 {
					return fmt.Errorf("eBPF hooks still loading: %s", strings.Join(loading, ", "))
				}
				return det.Err()
			})
			runtimeDetector.Store(det)
			events, _ := det.Subscribe(1024)
			go func() {
				for ev := range events {
					if ev.Rule == anomaly.UnexpectedListener.String() {
						// Refresh the ports finding and nodeguard_listening_port now.
						d.Trigger()
					}
					b, err := json.Marshal(ev)
					if err != nil {
						continue
					}
					log.Warn().RawJSON("event", b).Str("rule", ev.Rule).Str("severity", string(ev.Severity)).Msg(ev.Message)
				}
			}()
			return nil
		},
	})
}
