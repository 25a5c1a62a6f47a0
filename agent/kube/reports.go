package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// DefaultCRDRecheck is how often a report writer looks for the OpenReports
// CRD again while the API server does not serve it. One discovery GET per
// node per half hour: 5,000 nodes without the CRD cost the API server under
// 3 requests a second.
const DefaultCRDRecheck = 30 * time.Minute

// ReportAPI is what the report writer needs of the Kubernetes API.
type ReportAPI interface {
	OpenReportsServed(ctx context.Context) (bool, error)
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	GetClusterReport(ctx context.Context, name string) (*v1alpha1.ClusterReport, error)
	ApplyClusterReport(ctx context.Context, rep *v1alpha1.ClusterReport, fieldManager string) (*v1alpha1.ClusterReport, error)
}

var _ ReportAPI = (*apiclient.Client)(nil)

// ReportWriterOptions configure a ReportWriter.
type ReportWriterOptions struct {
	Client   ReportAPI
	NodeName string
	Log      zerolog.Logger
	// Registerer receives the writer's metrics; nil means none.
	Registerer prometheus.Registerer
	// Backoff paces retries after a failed write; zero means DefaultBackoff.
	Backoff wait.Backoff
	// CRDRecheck is how often to look for the CRD again while it is
	// missing; zero means DefaultCRDRecheck.
	CRDRecheck time.Duration
	// Clock is the writer's time; nil means the real clock.
	Clock clock.WithTicker
}

// ReportWriter keeps the node's OpenReports ClusterReport in step with the
// latest scan: one server-side apply when what the report says changes
// (keyed by openreports.AnnotationHash), nothing while it does not, so an
// idle fleet costs the API server nothing. Only the newest scan is ever
// written: scans that arrive during a write or a backoff replace each other.
type ReportWriter struct {
	opts  ReportWriterOptions
	clock clock.WithTicker
	log   zerolog.Logger
	wake  chan struct{}
	name  string

	writes      *prometheus.CounterVec
	omitted     prometheus.Gauge
	servedGauge prometheus.Gauge

	mu     sync.Mutex
	latest *finding.Report // the newest scan
	dirty  bool            // latest is not known to be on the server
	uid    types.UID       // the Node's UID ("" until read)
	// owner counts the Node's registrations seen (NodeSeen): a sync that
	// began under an earlier one writes nothing of its own back.
	owner uint64
	// onServer is the hash of the report the API server holds: "" when
	// unknown (read it first), noReport when there is none.
	onServer string
	lastErr  error
	served   *bool // what discovery said last; nil before it was asked
}

const noReport = "-"

// Write outcomes of nodeguard_kube_report_writes_total.
const (
	writeOK     = "written"
	writeFailed = "failed"
)

// NewReportWriter makes a writer; Run starts it.
func NewReportWriter(o ReportWriterOptions) (*ReportWriter, error) {
	if o.Client == nil || o.NodeName == "" {
		return nil, errors.New("kube: a client and a node name are required")
	}
	name, err := openreports.Name(o.NodeName)
	if err != nil {
		return nil, err
	}
	if o.Backoff.Duration == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.CRDRecheck <= 0 {
		o.CRDRecheck = DefaultCRDRecheck
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	w := &ReportWriter{
		opts: o, clock: o.Clock, log: o.Log, wake: make(chan struct{}, 1), name: name,
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodeguard_kube_report_writes_total",
			Help: "Server-side applies of the node's OpenReports ClusterReport, by outcome (written, failed). One per change of the findings, none while they stay the same.",
		}, []string{"outcome"}),
		omitted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodeguard_kube_report_omitted_results",
			Help: "Findings of the last written ClusterReport left out of its results by the size bound (the summary still counts them).",
		}),
		servedGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodeguard_kube_report_crd_served",
			Help: "1 when the API server serves OpenReports ClusterReports (the CRD is installed), else 0: no report is written.",
		}),
	}
	w.writes.WithLabelValues(writeOK)
	w.writes.WithLabelValues(writeFailed)
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{w.writes, w.omitted, w.servedGauge} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("kube: registering metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Name is the ClusterReport's name.
func (w *ReportWriter) Name() string { return w.name }

// Observe takes a new scan; it never blocks (it is a daemon subscriber).
func (w *ReportWriter) Observe(rep *finding.Report) {
	w.mu.Lock()
	w.latest, w.dirty = rep, true
	w.mu.Unlock()
	w.poke()
}

// NodeSeen takes the Node as the condition manager last read it. A new UID
// means the Node was deleted and registered again: the garbage collector
// removed the report with the old Node, so it is written again, owned by
// the new one.
func (w *ReportWriter) NodeSeen(n *corev1.Node) {
	w.mu.Lock()
	changed := w.uid != "" && n.UID != w.uid
	switch {
	case w.uid == "":
		w.uid = n.UID // the first read: no GET of its own
	case changed:
		w.uid, w.onServer, w.dirty = n.UID, "", true
		w.owner++
	}
	w.mu.Unlock()
	if changed {
		w.log.Info().Str("node", n.Name).Str("uid", string(n.UID)).Msg("the Node was registered again; rewriting its report")
		w.poke()
	}
}

func (w *ReportWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes until ctx ends: on every new scan, and after a failure on an
// exponential backoff with jitter; while the CRD is missing it looks again
// every CRDRecheck.
func (w *ReportWriter) Run(ctx context.Context) {
	syncLoop(ctx, w.clock, w.wake, w.opts.Backoff, func(ctx context.Context) (nextSync, error) {
		served, err := w.SyncOnce(ctx)
		if err == nil && !served {
			return nextSync{After: w.opts.CRDRecheck, HoldWakes: true}, nil
		}
		return nextSync{}, err
	})
}

// SyncOnce writes the newest scan if the server's report says something
// else. It reports false when the API server does not serve ClusterReports.
func (w *ReportWriter) SyncOnce(ctx context.Context) (served bool, err error) {
	w.mu.Lock()
	rep, uid, onServer, dirty, owner := w.latest, w.uid, w.onServer, w.dirty, w.owner
	w.mu.Unlock()
	if rep == nil || !dirty {
		return true, nil
	}
	defer func() {
		if err != nil {
			w.recordError(err)
		} else {
			w.recordSuccess()
		}
	}()
	if onServer == "" {
		// First sync, or after a failure or a new Node: learn what the server
		// holds, so that a restarted agent does not rewrite an unchanged
		// report. The discovery GET comes first: without the CRD the report
		// GET would be a 404 like that of a report not written yet.
		ok, err := w.opts.Client.OpenReportsServed(ctx)
		if err != nil {
			return true, fmt.Errorf("looking for the OpenReports API: %w", err)
		}
		w.setServed(ok)
		if !ok {
			return false, nil
		}
		cur, err := w.opts.Client.GetClusterReport(ctx, w.name)
		switch {
		case apierrors.IsNotFound(err):
			onServer = noReport
		case err != nil:
			return true, fmt.Errorf("reading ClusterReport %s: %w", w.name, err)
		default:
			onServer = cur.Annotations[openreports.AnnotationHash]
			if onServer == "" {
				onServer = noReport // not ours, or not written by this version: replace it
			}
		}
		w.mu.Lock()
		if w.owner == owner {
			w.onServer = onServer
		}
		w.mu.Unlock()
	}
	if uid == "" {
		n, err := w.opts.Client.GetNode(ctx, w.opts.NodeName)
		if err != nil {
			return true, fmt.Errorf("reading Node %s for the report's owner: %w", w.opts.NodeName, err)
		}
		uid = n.UID
		w.mu.Lock()
		if w.owner == owner && w.uid == "" {
			w.uid = uid
		}
		w.mu.Unlock()
	}
	want, err := openreports.Build(rep, openreports.Node{Name: w.opts.NodeName, UID: uid})
	if err != nil {
		return true, err
	}
	hash := want.Annotations[openreports.AnnotationHash]
	// What the report leaves out, whether it is written now or was already
	// there (a restarted agent).
	omitted, _ := strconv.Atoi(want.Annotations[openreports.AnnotationOmitted])
	w.omitted.Set(float64(omitted))
	if hash == onServer {
		w.settled(rep, owner)
		return true, nil
	}
	if _, err := w.opts.Client.ApplyClusterReport(ctx, want, ReportingController); err != nil {
		w.writes.WithLabelValues(writeFailed).Inc()
		if apierrors.IsNotFound(err) {
			// The CRD went away under the agent; the next attempt asks
			// discovery again. Any other failure is retried with the
			// apply alone: it is idempotent.
			w.mu.Lock()
			w.onServer = ""
			w.mu.Unlock()
			return true, fmt.Errorf("writing ClusterReport %s: the OpenReports API is gone: %w", w.name, err)
		}
		return true, fmt.Errorf("writing ClusterReport %s: %w", w.name, err)
	}
	w.writes.WithLabelValues(writeOK).Inc()
	w.mu.Lock()
	if w.owner == owner {
		w.onServer = hash
	}
	w.mu.Unlock()
	w.settled(rep, owner)
	w.log.Debug().Str("report", w.name).Str("hash", hash).Int("results", len(want.Results)).Int("omitted", omitted).Msg("ClusterReport written")
	return true, nil
}

// settled records that rep is what the server holds, unless a newer scan
// replaced it or the Node was registered again meanwhile.
func (w *ReportWriter) settled(rep *finding.Report, owner uint64) {
	w.mu.Lock()
	if w.latest == rep && w.owner == owner {
		w.dirty = false
	}
	w.mu.Unlock()
}

func (w *ReportWriter) setServed(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	w.servedGauge.Set(v)
	w.mu.Lock()
	changed := w.served == nil || *w.served != ok
	w.served = &ok
	w.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		w.log.Info().Str("report", w.name).Msg("keeping the node's OpenReports ClusterReport")
	} else {
		w.log.Info().Dur("recheck", w.opts.CRDRecheck).
			Msg("the API server does not serve openreports.io/v1alpha1 ClusterReports (CRD not installed): no report; looking again later")
	}
}

func (w *ReportWriter) recordError(err error) {
	w.mu.Lock()
	first := w.lastErr == nil || ErrorReason(w.lastErr) != ErrorReason(err)
	w.lastErr = err
	w.mu.Unlock()
	ev := w.log.Debug()
	if first {
		ev = w.log.Error()
	}
	ev.Err(err).Str("report", w.name).Str("reason", ErrorReason(err)).Msg("the node's ClusterReport could not be written; retrying with backoff")
}

func (w *ReportWriter) recordSuccess() {
	w.mu.Lock()
	recovered := w.lastErr != nil
	w.lastErr = nil
	w.mu.Unlock()
	if recovered {
		w.log.Info().Str("report", w.name).Msg("the node's ClusterReport is in step again")
	}
}
