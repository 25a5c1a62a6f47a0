package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// The Event writer's limits. The queue absorbs a burst of runtime Events
// (each a few hundred bytes) while one write is retried; past it Events are
// dropped, never the caller blocked.
const (
	eventQueueSize = 256
	// seriesWindow is how long after an Event a repeat of it joins its
	// series instead of making a new one (as client-go's tools/events).
	seriesWindow = 6 * time.Minute
	// maxReportingInstanceLen is the API server's limit on reportingInstance.
	maxReportingInstanceLen = 128
	// maxEventTries bounds the writes of one Event: with defaultEventBackoff
	// one and a half to two minutes of retries, then it is dropped so that
	// the Events queued behind it get their turn.
	maxEventTries = 8
)

// defaultEventBackoff paces the retries of one Event while the API server is
// unreachable or overloaded.
var defaultEventBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: math.MaxInt32, Cap: 30 * time.Second}

// eventSink is the part of the API client the writer uses.
type eventSink interface {
	CreateEvent(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error)
	PatchEvent(ctx context.Context, namespace, name string, patch []byte) (*eventsv1.Event, error)
}

// eventWriter writes events.k8s.io/v1 Events as client-go's tools/events
// would, without its dependencies: asynchronously from a bounded queue,
// retrying transient failures with backoff, and folding a repeat of an
// Event within seriesWindow into the first one's series.
type eventWriter struct {
	sink       eventSink
	controller string
	instance   string
	log        zerolog.Logger
	// outcome counts each Event once: "recorded" when the API server has it
	// (a new Event or a series count), "dropped" when the queue was full or
	// the writes failed.
	outcome func(outcome string)
	backoff wait.Backoff
	now     func() time.Time

	queue chan pendingEvent
	mu    sync.Mutex
	done  bool // Run has returned: Events are no longer taken

	// Only Run's goroutine touches these.
	series   map[eventKey]*seriesState
	lastName int64
	warned   map[string]bool
}

// pendingEvent is one call of Event, waiting to be written.
type pendingEvent struct {
	key eventKey
	at  time.Time
}

// eventKey is what makes two Events the same ("isomorphic"): a repeat of all
// of it becomes a series. Unlike tools/events the note is part of it, so a
// series never stands for a message other than its own.
type eventKey struct {
	regarding                       corev1.ObjectReference
	related                         corev1.ObjectReference // zero: none
	eventType, reason, action, note string
}

// seriesState is the last Event written for a key.
type seriesState struct {
	namespace, name string
	eventTime       time.Time
	count           int32 // 1 until the first repeat
	lastObserved    time.Time
}

func newEventWriter(sink eventSink, controller, instance string, queueSize int, log zerolog.Logger, outcome func(string)) *eventWriter {
	return &eventWriter{
		sink: sink, controller: controller, instance: finding.Truncate(instance, maxReportingInstanceLen),
		log: log, outcome: outcome, backoff: defaultEventBackoff, now: time.Now,
		queue:  make(chan pendingEvent, queueSize),
		series: map[eventKey]*seriesState{},
		warned: map[string]bool{},
	}
}

// Event queues an Event; it never blocks. It reports false when the Event was
// not taken: the queue is full (counted as dropped) or the writer has stopped.
func (w *eventWriter) Event(regarding corev1.ObjectReference, related *corev1.ObjectReference, eventType, reason, action, note string) bool {
	k := eventKey{regarding: regarding, eventType: eventType, reason: reason, action: action, note: finding.Truncate(note, maxNoteLen)}
	if related != nil {
		k.related = *related
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return false
	}
	select {
	case w.queue <- pendingEvent{key: k, at: w.now()}:
		return true
	default:
		w.outcome("dropped")
		w.log.Debug().Str("reason", reason).Msg("event dropped: the queue of Events to write is full")
		return false
	}
}

// Run writes queued Events until ctx ends; what is still queued then is lost
// with the process.
func (w *eventWriter) Run(ctx context.Context) {
	defer func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-w.queue:
			w.write(ctx, p)
		}
	}
}

// write records one Event: a new one, or the next count of its series.
func (w *eventWriter) write(ctx context.Context, p pendingEvent) {
	w.forgetEnded(p.at)
	s := w.series[p.key]
	if s != nil && p.at.Sub(s.lastObserved) > seriesWindow {
		s = nil
	}
	var next seriesState
	if s == nil {
		next = seriesState{namespace: eventNamespace(p.key.regarding), name: w.newName(p.key.regarding.Name),
			eventTime: p.at, count: 1, lastObserved: p.at}
	} else {
		next = *s
		next.count++
		next.lastObserved = p.at
	}
	bo := w.backoff
	for try := 1; ; try++ {
		err := w.send(ctx, p.key, next)
		if err == nil {
			w.series[p.key] = &next
			w.outcome("recorded")
			return
		}
		if ctx.Err() != nil {
			return
		}
		reason := ErrorReason(err)
		if !retryable(reason) || try >= maxEventTries {
			w.outcome("dropped")
			w.failed(err, reason, p.key)
			return
		}
		w.log.Debug().Err(err).Str("reason", reason).Msg("writing an Event failed; retrying")
		t := time.NewTimer(bo.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// send makes the API call for one state of a key: create for a new Event,
// patch of the series for a repeat (create again if the Event has expired).
func (w *eventWriter) send(ctx context.Context, k eventKey, s seriesState) error {
	if s.count > 1 {
		patch, err := json.Marshal(map[string]any{"series": eventsv1.EventSeries{
			Count: s.count, LastObservedTime: metav1.NewMicroTime(s.lastObserved)}})
		if err != nil {
			return err
		}
		_, err = w.sink.PatchEvent(ctx, s.namespace, s.name, patch)
		if !apierrors.IsNotFound(err) {
			return err
		}
		// The API server dropped the Event (its TTL is an hour by default):
		// write it again, with the series.
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: s.name, Namespace: s.namespace},
		EventTime:           metav1.NewMicroTime(s.eventTime),
		ReportingController: w.controller,
		ReportingInstance:   w.instance,
		Action:              k.action,
		Reason:              k.reason,
		Regarding:           k.regarding,
		Note:                k.note,
		Type:                k.eventType,
	}
	if k.related != (corev1.ObjectReference{}) {
		rel := k.related
		ev.Related = &rel
	}
	if s.count > 1 {
		ev.Series = &eventsv1.EventSeries{Count: s.count, LastObservedTime: metav1.NewMicroTime(s.lastObserved)}
	}
	_, err := w.sink.CreateEvent(ctx, ev)
	return err
}

// retryable reports whether a failure may pass: the API server was
// unreachable, timed out or overloaded. A refusal (401, 403, an invalid
// Event) would be refused again.
func retryable(reason string) bool {
	switch reason {
	case ReasonUnreachable, ReasonTimeout, ReasonTooManyRequests, ReasonServerError:
		return true
	}
	return false
}

// failed logs a dropped Event: the first of each kind of failure as a
// warning (an operator can act on it), the rest at debug.
func (w *eventWriter) failed(err error, reason string, k eventKey) {
	ev := w.log.Debug()
	if !w.warned[reason] {
		w.warned[reason] = true
		ev = w.log.Warn()
	}
	msg := "an Event could not be written and is dropped"
	if reason == ReasonForbidden {
		msg += " (needs create and patch on events.k8s.io events, see manifests/rbac.yaml)"
	}
	ev.Err(err).Str("reason", reason).Str("eventReason", k.reason).Msg(msg)
}

// forgetEnded drops the series that can no longer grow, so the map holds
// only the last seriesWindow's Events.
func (w *eventWriter) forgetEnded(now time.Time) {
	for k, s := range w.series {
		if now.Sub(s.lastObserved) > seriesWindow {
			delete(w.series, k)
		}
	}
}

// newName is "<regarding name>.<hex nanoseconds>", as tools/events names
// Events, kept unique within the process even when the clock repeats itself.
func (w *eventWriter) newName(regarding string) string {
	n := time.Now().UnixNano()
	if n <= w.lastName {
		n = w.lastName + 1
	}
	w.lastName = n
	name := fmt.Sprintf("%s.%x", regarding, n)
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		// A name that cannot prefix an Event's (too long): a random one.
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		name = hex.EncodeToString(b)
	}
	return name
}

// eventNamespace is where an Event about an object goes: the object's
// namespace, "default" for cluster-scoped objects such as a Node.
func eventNamespace(regarding corev1.ObjectReference) string {
	if regarding.Namespace != "" {
		return regarding.Namespace
	}
	return metav1.NamespaceDefault
}
