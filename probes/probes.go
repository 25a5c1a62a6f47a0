// Package probes defines what a host check is and keeps the list of them.
// A probe reads the host only through Env.Root, judges what it read against its
// policy section, and returns findings; it never talks to Kubernetes or
// Prometheus. Each probe lives in its own package below this one and registers
// itself in init; probes/all imports them all.
package probes

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Role is the node's part in the cluster.
type Role string

const (
	ControlPlane Role = "control-plane"
	Worker       Role = "worker"
)

// Listener is a socket the agent itself serves, so the ports probe does not
// flag the agent's own metrics port.
type Listener struct {
	Protocol string
	Port     int
}

// Env is everything a probe may use.
type Env struct {
	Root   *hostfs.Root
	Policy *policy.Policy
	// Role is the node's role when it is known before the scan (a flag, a
	// node label, a test); probes read it through NodeRole.
	Role Role
	// DetectRole, when Role is empty, finds the role on the first call of
	// NodeRole. Detection reads every process's comm: the ports probe asks
	// while its own kernel walks run on the other core, not before them.
	DetectRole func() Role
	Log        zerolog.Logger
	// AgentListeners are the sockets `nodeguard run` serves.
	AgentListeners []Listener
	// KubeletVersion is the kubelet's version as its Node reports it
	// (status.nodeInfo.kubeletVersion), empty when the API is not used.
	KubeletVersion string
	// Now is the scan's clock, time.Now when nil: checks that judge dates
	// read it through NowUTC so tests can fix the day.
	Now func() time.Time

	// shared holds what one scan computes once for several probes (sshd's
	// effective configuration, read by the sshd and accounts probes).
	sharedMu sync.Mutex
	shared   map[string]*sharedValue
}

// NodeRole is the node's role: Role, else what DetectRole finds, detected
// once per Env however many probes ask.
func (e *Env) NodeRole() Role {
	if e.Role != "" || e.DetectRole == nil {
		return e.Role
	}
	return Shared(e, "probes.role", e.DetectRole)
}

// NowUTC is the scan's clock reading, in UTC.
func (e *Env) NowUTC() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

type sharedValue struct {
	once sync.Once
	v    any
}

// Shared returns compute's result for key, computing it once per Env (one
// scan), however many probes ask and from however many goroutines.
func Shared[T any](env *Env, key string, compute func() T) T {
	env.sharedMu.Lock()
	if env.shared == nil {
		env.shared = map[string]*sharedValue{}
	}
	sv := env.shared[key]
	if sv == nil {
		sv = &sharedValue{}
		env.shared[key] = sv
	}
	env.sharedMu.Unlock()
	sv.once.Do(func() { sv.v = compute() })
	return sv.v.(T)
}

// Probe is one family of host checks.
type Probe interface {
	// Name is the probe's id: the `probe` field of its findings and the
	// value --only takes.
	Name() string
	// Run performs the checks. A probe reports trouble as error findings;
	// it does not return errors, so one broken input never hides the others.
	// The probe may keep the returned slice as a cache for its next run:
	// callers copy the findings before changing them.
	Run(ctx context.Context, env *Env) []finding.Finding
}

// Factory makes a probe instance. Instances may keep caches between scans, so
// each scanner makes its own.
type Factory func() Probe

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register adds a probe factory under name. It panics on a duplicate name.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("probes: duplicate probe " + name)
	}
	factories[name] = f
}

// Names lists the registered probes, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New makes the probes named in only, or all probes when only is empty.
func New(only []string) ([]Probe, error) {
	mu.RLock()
	defer mu.RUnlock()
	if len(only) == 0 {
		only = make([]string, 0, len(factories))
		for n := range factories {
			only = append(only, n)
		}
		sort.Strings(only)
	}
	seen := map[string]bool{}
	var out []Probe
	for _, n := range only {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		f, ok := factories[n]
		if !ok {
			known := make([]string, 0, len(factories))
			for k := range factories {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("unknown probe %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, f())
	}
	return out, nil
}
