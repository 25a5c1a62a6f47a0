// Package scan runs the probes against the host and assembles a report.
package scan

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Scanner owns probe instances (and their caches) across scans.
type Scanner struct {
	Root   *hostfs.Root
	Policy *policy.Policy
	Probes []probes.Probe
	// Role is fixed when set; empty means detect it on every scan.
	Role probes.Role
	// RoleReason explains a fixed Role (e.g. "--role flag", "node label").
	RoleReason     string
	Node           string
	Log            zerolog.Logger
	AgentListeners []probes.Listener
	// KubeletVersion is the Node's status.nodeInfo.kubeletVersion, when the
	// agent reads its Node.
	KubeletVersion string
	Now            func() time.Time
}

// Scan runs every probe once, concurrently, and returns the finalized report.
// A panicking probe becomes an error finding; the others carry on.
func (s *Scanner) Scan(ctx context.Context) *finding.Report {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	env := &probes.Env{Root: s.Root, Policy: s.Policy, Role: s.Role, Log: s.Log, AgentListeners: s.AgentListeners,
		KubeletVersion: s.KubeletVersion, Now: now}
	// Without a fixed role, the probes that need it detect it when they ask
	// (Env.NodeRole), and the report takes the same answer.
	detected := sync.OnceValues(func() (probes.Role, string) { return role.Detect(s.Root) })
	if s.Role == "" {
		env.DetectRole = func() probes.Role { r, _ := detected(); return r }
	}
	rep := &finding.Report{Node: s.Node, HostRoot: s.Root.Path(), ScannedAt: now().UTC()}
	// Each probe's findings are kept apart and copied once into the report,
	// in probe order: a probe may keep the slice it returns as a cache (ports
	// reuses 10,000 verdicts while no socket changes), so it is never
	// modified in place.
	results := make([][]finding.Finding, len(s.Probes))
	rep.Probes = make([]finding.ProbeRun, len(s.Probes))
	var wg sync.WaitGroup
	for i, p := range s.Probes {
		wg.Go(func() {
			start := time.Now()
			fs := runProbe(ctx, p, env)
			run := finding.ProbeRun{Name: p.Name(), DurationSeconds: time.Since(start).Seconds()}
			for i := range fs {
				if fs[i].Status == finding.Error {
					run.Errors++
					s.Log.Warn().Str("probe", p.Name()).Str("id", fs[i].ID).Msg(fs[i].Message)
				}
			}
			results[i], rep.Probes[i] = fs, run
		})
	}
	wg.Wait()
	rep.Role, rep.RoleReason = string(s.Role), s.RoleReason
	if s.Role == "" {
		r, reason := detected()
		rep.Role, rep.RoleReason = string(r), reason
	}
	n, last := 0, -1
	for i, fs := range results {
		n += len(fs)
		if len(fs) > 0 {
			last = i
		}
	}
	if last >= 0 && n == len(results[last]) && finding.Final(results[last]) {
		// One probe's findings, already as Finalize leaves them, are the
		// report as they are: 10,000 listeners are 1.5 MB to copy.
		rep.Findings = results[last]
		rep.Finalize()
		return rep
	}
	rep.Findings = make([]finding.Finding, 0, n)
	for i, fs := range results {
		start := len(rep.Findings)
		rep.Findings = append(rep.Findings, fs...)
		for j := start; j < len(rep.Findings); j++ {
			if rep.Findings[j].Probe == "" {
				rep.Findings[j].Probe = s.Probes[i].Name()
			}
		}
	}
	rep.Finalize()
	return rep
}

func runProbe(ctx context.Context, p probes.Probe, env *probes.Env) (out []finding.Finding) {
	defer func() {
		if v := recover(); v != nil {
			env.Log.Error().Str("probe", p.Name()).Str("stack", string(debug.Stack())).Msgf("probe panicked: %v", v)
			out = []finding.Finding{finding.ErrorFinding(p.Name(), p.Name()+".internal",
				"Probe failed", fmt.Errorf("probe %s failed internally: %v (please report this)", p.Name(), v))}
		}
	}()
	return p.Run(ctx, env)
}

// NodeName is NODE_NAME when set (the DaemonSet passes it from the downward
// API), else the host's /etc/hostname, else the agent's own hostname.
func NodeName(root *hostfs.Root) string {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	if b, err := root.ReadFileLimit("/etc/hostname", 256); err == nil {
		if n := strings.TrimSpace(string(b)); n != "" {
			return n
		}
	}
	n, _ := os.Hostname()
	return n
}
