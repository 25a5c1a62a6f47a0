package kube

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// DefaultHeartbeatPeriod is how often an unchanged condition is re-stamped.
const DefaultHeartbeatPeriod = 5 * time.Minute

// ReportingController names the agent in the Events it writes.
const ReportingController = "nodeguard"

// DefaultBackoff paces resyncs while the API server is unreachable or refuses
// the agent: exponential with jitter so a fleet of agents does not retry in
// lockstep when the API server comes back.
var DefaultBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: math.MaxInt32, Cap: time.Minute}

// Event rate limit per condition and direction, on top of the writer's
// aggregation of identical Events into a series: a flapping check yields a
// handful of Events, then one per eventInterval at most.
const (
	eventBurst    = 3
	eventInterval = 5 * time.Minute
)

// API is what the manager needs of the Kubernetes API: its own Node and the
// Events about it. *apiclient.Client is the real one; the manager's logic is
// unit-tested against a fake.
type API interface {
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	PatchNodeStatus(ctx context.Context, name string, patch []byte, fieldManager string) (*corev1.Node, error)
	eventSink
}

var _ API = (*apiclient.Client)(nil)

// Options configure a Manager.
type Options struct {
	Client          API
	NodeName        string
	HeartbeatPeriod time.Duration
	Log             zerolog.Logger
	// Registerer receives the manager's metrics; nil means none.
	Registerer prometheus.Registerer
	// Backoff paces retries after a failed sync; zero means DefaultBackoff.
	Backoff wait.Backoff
	// FollowNodeRole means the scanner takes its role from the node's labels;
	// the manager then holds back reports judged under another role so the
	// switch does not flap a condition.
	FollowNodeRole bool
	// OnNodeRole is called (from the manager's goroutine) when the role the
	// node's labels give is first learned or changes.
	OnNodeRole func(probes.Role, string)
	// OnNode is called with the Node whenever the manager reads it or gets
	// it back from a patch (the report writer follows its UID).
	OnNode func(*corev1.Node)
	// Clock is the manager's time (heartbeats, backoff, transition times);
	// nil means the real clock.
	Clock clock.WithTicker
}

// Manager keeps the agent's conditions on its Node in step with the latest
// report and writes Events on transitions.
type Manager struct {
	opts   Options
	client API
	clock  clock.WithTicker
	log    zerolog.Logger
	wake   chan struct{}

	syncErrors *prometheus.CounterVec
	patches    prometheus.Counter
	events     *prometheus.CounterVec

	// recorder writes the Events; Run runs it.
	recorder *eventWriter

	mu         sync.Mutex
	verdicts   map[corev1.NodeConditionType]Verdict // nil until the first report
	reportRole probes.Role
	runtime    *Verdict
	node       *corev1.Node // the server's view; nil means GET before patching
	role       probes.Role
	roleReason string
	synced     bool
	lastErr    error
	errReason  string
	failures   int
	failSince  time.Time
	limiters   map[string]*rate.Limiter

	runtimeLimiter *keyedLimiter
}

// New makes a manager; Run starts it.
func New(o Options) (*Manager, error) {
	if o.Client == nil || o.NodeName == "" {
		return nil, errors.New("kube: a client and a node name are required")
	}
	if o.HeartbeatPeriod <= 0 {
		o.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if o.Backoff.Duration == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	m := &Manager{
		opts: o, client: o.Client, clock: o.Clock, log: o.Log, wake: make(chan struct{}, 1),
		limiters:       map[string]*rate.Limiter{},
		runtimeLimiter: newKeyedLimiter(runtimeEventInterval, runtimeEventBurst, runtimeEventKeys),
		syncErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodeguard_kube_sync_errors_total",
			Help: "Failed attempts to sync the node's conditions with the Kubernetes API, by reason.",
		}, []string{"reason"}),
		patches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodeguard_kube_node_status_patches_total",
			Help: "Patches of the node's status the agent sent (condition changes and heartbeats).",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodeguard_kube_events_total",
			Help: "Events on the Node (condition transitions and runtime rule matches), by outcome: recorded (the API server has it), or dropped (by the rate limit, a full queue, or writes that failed).",
		}, []string{"outcome"}),
	}
	m.recorder = newEventWriter(o.Client, ReportingController, ReportingController+"-"+o.NodeName, eventQueueSize,
		o.Log.With().Str("component", "events").Logger(),
		func(outcome string) { m.events.WithLabelValues(outcome).Inc() })
	m.recorder.now = o.Clock.Now
	// Alerts on rate() need the series to exist before the first error.
	for _, r := range syncErrorReasons {
		m.syncErrors.WithLabelValues(r)
	}
	m.events.WithLabelValues("recorded")
	m.events.WithLabelValues("dropped")
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.syncErrors, m.patches, m.events} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("kube: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Observe takes a new report; it never blocks (it is a daemon subscriber).
func (m *Manager) Observe(rep *finding.Report) {
	v := Verdicts(rep)
	m.mu.Lock()
	m.verdicts = v
	m.reportRole = probes.Role(rep.Role)
	m.mu.Unlock()
	m.poke()
}

// SetRuntimeAnomaly sets RuntimeAnomalyDetected: active means status True.
// Runtime detection calls it on every verdict change; until the first call
// the condition is absent (and removed if a previous run left it). Reason
// must be CamelCase; empty picks the default for the status.
func (m *Manager) SetRuntimeAnomaly(active bool, reason, message string) {
	ct := conditionType(RuntimeAnomalyDetected)
	v := Verdict{Status: corev1.ConditionFalse, Reason: ct.OKReason, Message: message}
	if active {
		v.Status, v.Reason = corev1.ConditionTrue, ct.ProblemReason
	}
	if reason != "" && isCamelCase(reason) {
		v.Reason = reason
	}
	if v.Message == "" {
		v.Message = "no anomaly seen"
		if active {
			v.Message = "runtime anomaly detected"
		}
	}
	v.Message = finding.Truncate(v.Message, MaxMessageLen)
	m.mu.Lock()
	m.runtime = &v
	m.mu.Unlock()
	m.poke()
}

// ClearRuntimeAnomaly removes RuntimeAnomalyDetected (runtime detection stopped).
func (m *Manager) ClearRuntimeAnomaly() {
	m.mu.Lock()
	m.runtime = nil
	m.mu.Unlock()
	m.poke()
}

func isCamelCase(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Ready is the /readyz check: an error while the node's conditions are not
// in step with the last report.
func (m *Manager) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastErr != nil {
		return fmt.Errorf("node %s: conditions not synced for %s (%d failed attempts, %s): %v",
			m.opts.NodeName, m.clock.Since(m.failSince).Round(time.Second), m.failures, m.errReason, m.lastErr)
	}
	if m.verdicts != nil && !m.synced {
		return fmt.Errorf("node %s: conditions not synced yet", m.opts.NodeName)
	}
	return nil
}

// NodeRole is the role the node's labels give, once the node has been read.
func (m *Manager) NodeRole() (probes.Role, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.role, m.roleReason, m.role != ""
}

// KubeletVersion is the node's status.nodeInfo.kubeletVersion, empty until
// the node has been read.
func (m *Manager) KubeletVersion() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return ""
	}
	return m.node.Status.NodeInfo.KubeletVersion
}

// LookupNode reads the node once (its labels give the role); call it before
// Run, e.g. to fix the scanner's role before the first scan.
func (m *Manager) LookupNode(ctx context.Context) error {
	_, err := m.fetchNode(ctx)
	if err != nil {
		m.recordError(err)
	}
	return err
}

// RoleFromLabels reads the node-role labels kubeadm and most installers set.
func RoleFromLabels(labels map[string]string) (probes.Role, string) {
	for _, l := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
		if _, ok := labels[l]; ok {
			return probes.ControlPlane, "node label " + l
		}
	}
	return probes.Worker, "node has no node-role.kubernetes.io/control-plane label"
}

func (m *Manager) fetchNode(ctx context.Context) (*corev1.Node, error) {
	n, err := m.client.GetNode(ctx, m.opts.NodeName)
	if err != nil {
		return nil, err
	}
	m.setNode(n)
	return n, nil
}

// setNode stores the server's view and follows its role label.
func (m *Manager) setNode(n *corev1.Node) {
	r, reason := RoleFromLabels(n.Labels)
	m.mu.Lock()
	m.node = n
	changed := r != m.role
	m.role, m.roleReason = r, reason
	m.mu.Unlock()
	if changed && m.opts.OnNodeRole != nil {
		m.opts.OnNodeRole(r, reason)
	}
	if m.opts.OnNode != nil {
		m.opts.OnNode(n)
	}
}

// Run syncs until ctx ends: on every new verdict, when a heartbeat is due,
// and after a failure on an exponential backoff with jitter.
func (m *Manager) Run(ctx context.Context) {
	recorderDone := make(chan struct{})
	go func() {
		m.recorder.Run(ctx)
		close(recorderDone)
	}()
	defer func() { <-recorderDone }()

	syncLoop(ctx, m.clock, m.wake, m.opts.Backoff, func(ctx context.Context) (nextSync, error) {
		heartbeat, err := m.SyncOnce(ctx)
		if err != nil || heartbeat.IsZero() {
			return nextSync{}, err
		}
		// A due heartbeat still patches: never a zero wait.
		return nextSync{After: max(heartbeat.Sub(m.clock.Now()), time.Nanosecond)}, nil
	})
}

// SyncOnce brings the node's owned conditions in line with the latest
// verdicts and returns when the next heartbeat is due (zero: none pending).
func (m *Manager) SyncOnce(ctx context.Context) (time.Time, error) {
	m.mu.Lock()
	if m.verdicts == nil {
		m.mu.Unlock()
		return time.Time{}, nil
	}
	want := make(map[corev1.NodeConditionType]Verdict, len(m.verdicts)+1)
	for t, v := range m.verdicts {
		want[t] = v
	}
	if m.runtime != nil {
		want[RuntimeAnomalyDetected] = *m.runtime
	}
	node, reportRole, role := m.node, m.reportRole, m.role
	m.mu.Unlock()

	if node == nil {
		var err error
		if node, err = m.fetchNode(ctx); err != nil {
			m.recordError(err)
			return time.Time{}, err
		}
		m.mu.Lock()
		role = m.role
		m.mu.Unlock()
	}
	if m.opts.FollowNodeRole && reportRole != role {
		// The next report is judged under the label's role; wait for it.
		m.log.Debug().Str("report", string(reportRole)).Str("node", string(role)).Msg("waiting for a scan under the node's role")
		return time.Time{}, nil
	}
	now := m.clock.Now()
	plan, err := planSync(node.Status.Conditions, want, now, m.opts.HeartbeatPeriod)
	if err != nil {
		return time.Time{}, err
	}
	if plan.Patch != nil {
		updated, err := m.client.PatchNodeStatus(ctx, m.opts.NodeName, plan.Patch, ReportingController)
		if err != nil {
			m.mu.Lock()
			m.node = nil // unknown now: read it again before the next patch
			m.mu.Unlock()
			m.recordError(err)
			return time.Time{}, err
		}
		m.patches.Inc()
		m.setNode(updated)
		for _, t := range plan.Transitions {
			m.emit(updated, t)
		}
	}
	m.recordSuccess()
	return plan.NextHeartbeat, nil
}

// emit queues the Event for a transition, within the rate limit.
func (m *Manager) emit(node *corev1.Node, t transition) {
	key := string(t.Type.Type) + "/problem"
	eventType, reason := corev1.EventTypeWarning, t.Type.ProblemReason
	if !t.Appeared {
		key = string(t.Type.Type) + "/resolved"
		eventType, reason = corev1.EventTypeNormal, t.Type.OKReason
	}
	if t.Verdict.Reason != "" && t.Type.Type == RuntimeAnomalyDetected {
		reason = t.Verdict.Reason
	}
	m.mu.Lock()
	lim := m.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(eventInterval), eventBurst)
		m.limiters[key] = lim
	}
	m.mu.Unlock()
	if !lim.Allow() {
		m.events.WithLabelValues("dropped").Inc()
		m.log.Debug().Str("condition", string(t.Type.Type)).Msg("event dropped by the rate limit")
		return
	}
	note := fmt.Sprintf("%s is now %s: %s", t.Type.Type, t.Verdict.Status, t.Verdict.Message)
	m.recorder.Event(nodeRef(node.Name), nil, eventType, reason, "Scan", finding.Truncate(note, MaxMessageLen+64))
}

// nodeRef is how Events refer to the Node. kubectl describe node (like the
// kubelet) refers to a Node by its name as UID, so use that to have the
// Events show up there.
func nodeRef(name string) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: types.UID(name)}
}

func (m *Manager) recordError(err error) {
	reason := ErrorReason(err)
	m.syncErrors.WithLabelValues(reason).Inc()
	m.mu.Lock()
	first := m.lastErr == nil || m.errReason != reason
	m.lastErr, m.errReason = err, reason
	m.failures++
	if m.failSince.IsZero() {
		m.failSince = m.clock.Now()
	}
	m.mu.Unlock()
	// One clear line per kind of failure, not one per retry.
	ev := m.log.Debug()
	if first {
		ev = m.log.Error()
	}
	ev.Err(err).Str("node", m.opts.NodeName).Str("reason", reason).Msg(explain(reason))
}

func (m *Manager) recordSuccess() {
	m.mu.Lock()
	recovered, failures, since := m.lastErr != nil, m.failures, m.failSince
	m.lastErr, m.errReason, m.failures, m.failSince = nil, "", 0, time.Time{}
	m.synced = true
	m.mu.Unlock()
	if recovered {
		m.log.Info().Str("node", m.opts.NodeName).Int("failedAttempts", failures).
			Dur("after", m.clock.Since(since).Round(time.Second)).Msg("node conditions synced again")
	}
}
