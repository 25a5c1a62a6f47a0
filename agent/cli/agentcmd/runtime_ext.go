package agentcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/agent/cli"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
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
		Sibling:        lightSibling(),
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
	// The kernel hook reports a listen, not a close: a listener the rule
	// reported is rescanned for every few seconds until a scan finds it
	// closed, so that UnexpectedOpenPorts goes back to False then and not
	// at the next periodic scan.
	watch := newListenerWatch()
	d.Subscribe(watch.scanned)
	go func() {
		t := time.NewTicker(listenerWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if watch.pending() {
					d.Trigger()
				}
			}
		}
	}()
	events, _ := det.Subscribe(1024)
	go func() {
		for ev := range events {
			if ev.Rule == anomaly.UnexpectedListener.String() {
				// Refresh the ports finding and nodeguard_listening_port now.
				watch.add(ev.Details["protocol"], ev.Details["port"])
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

// listenerWatchEvery is how often listeners the runtime rule reported are
// rescanned for while they are open.
const listenerWatchEvery = 5 * time.Second

// listenerWatch keeps the listeners (protocol and port) the runtime rule
// reported until a scan no longer finds them. One that no scan ever showed
// (closed at once, or filtered by the policy) is given up after a few scans.
type listenerWatch struct {
	mu   sync.Mutex
	open map[string]*watched
}

type watched struct {
	seen   bool
	missed int
}

// maxWatched bounds the listeners watched at once; past it, new ones wait for
// the periodic scan.
const maxWatched = 256

func newListenerWatch() *listenerWatch { return &listenerWatch{open: map[string]*watched{}} }

func listenerKey(protocol, port string) string {
	// The rule says tcp6 or udp6 where the ports probe says tcp or udp.
	return strings.TrimSuffix(protocol, "6") + "/" + port
}

func (w *listenerWatch) add(protocol, port string) {
	if port == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.open[listenerKey(protocol, port)]; !ok && len(w.open) < maxWatched {
		w.open[listenerKey(protocol, port)] = &watched{}
	}
}

func (w *listenerWatch) pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.open) > 0
}

// scanned drops the watched listeners the report no longer lists.
func (w *listenerWatch) scanned(rep *finding.Report) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.open) == 0 {
		return
	}
	listed := map[string]bool{}
	for i := range rep.Findings {
		if f := &rep.Findings[i]; f.ID == ports.IDListener {
			listed[listenerKey(f.Evidence.Get("protocol"), f.Evidence.Get("port"))] = true
		}
	}
	for k, st := range w.open {
		switch {
		case listed[k]:
			st.seen, st.missed = true, 0
		case st.seen:
			delete(w.open, k)
		default:
			if st.missed++; st.missed >= 3 {
				delete(w.open, k)
			}
		}
	}
}

// lightSibling is the light nodeguard beside the agent's executable (the
// one-shot commands' binary, which an admin runs as nodeguard scan), when it
// is another file; "" otherwise.
func lightSibling() string {
	self, errSelf := os.Executable()
	sibling, err := cli.Beside("nodeguard")
	if errSelf != nil || err != nil {
		return ""
	}
	a, errA := os.Stat(self)
	b, errB := os.Stat(sibling)
	if errA != nil || errB != nil || !b.Mode().IsRegular() || os.SameFile(a, b) {
		return ""
	}
	return sibling
}
