package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// startRuntime starts the eBPF runtime anomaly detection of `nodeguard run`
// and its metrics; it returns nil when it is off (--no-bpf) or eBPF cannot be
// used here, in which case every rule reports nodeguard_bpf_rule_active 0 and
// the scans go on. pods names the pods of events; nil leaves them out.
func startRuntime(ctx context.Context, noBPF bool, d *service.Daemon, pods *kube.PodIndex, log zerolog.Logger) *anomaly.Detector {
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
	o := anomaly.Options{
		Root: d.Scanner.Root, Policy: d.Scanner.Policy, Log: log,
		Role:           func() probes.Role { return currentRole.Load().(probes.Role) },
		AgentListeners: d.Scanner.AgentListeners,
	}
	if pods != nil {
		o.Pods = pods
	}
	det, err := anomaly.Start(ctx, o)
	if err != nil {
		// The agent's scans are still worth having without eBPF.
		log.Error().Err(err).Msg("eBPF runtime detection unavailable; every rule reports nodeguard_bpf_rule_active 0")
		d.Registry.MustRegister(anomaly.NewCollector(nil, pol.NamespaceLabel))
		return nil
	}
	// The programs load in the background (the detector logs each refusal
	// with the verifier's last lines); /readyz names the hooks still
	// loading, and the inactive rules are said once.
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
	return det
}
