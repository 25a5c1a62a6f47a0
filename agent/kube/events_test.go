package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
)

// outcomes counts what the writer reports.
type outcomes struct{ recorded, dropped atomic.Int64 }

func (o *outcomes) count(outcome string) {
	switch outcome {
	case "recorded":
		o.recorded.Add(1)
	case "dropped":
		o.dropped.Add(1)
	default:
		panic("unknown outcome " + outcome)
	}
}

func (o *outcomes) String() string {
	return fmt.Sprintf("recorded %d, dropped %d", o.recorded.Load(), o.dropped.Load())
}

// testWriter is an Event writer for node with fast retries; run starts it
// until the test ends.
func testWriter(t *testing.T, client *apiclient.Client, node string, queue int, log zerolog.Logger) (*eventWriter, *outcomes) {
	t.Helper()
	var o outcomes
	w := newEventWriter(client, ReportingController, ReportingController+"-"+node, queue, log, o.count)
	w.backoff = wait.Backoff{Duration: 5 * time.Millisecond, Factor: 1, Steps: 1 << 30}
	return w, &o
}

func runWriter(t *testing.T, w *eventWriter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestEventWriterOnAPIServer(t *testing.T) {
	api := startAPI(t)
	ctx := context.Background()
	pod := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web-0"}

	t.Run("an Event with the fields tools/events sets", func(t *testing.T) {
		w, o := testWriter(t, api.client(t, "", nil), "w1", eventQueueSize, zerolog.Nop())
		runWriter(t, w)
		before := time.Now().Truncate(time.Microsecond)
		note := strings.Repeat("ü", 600) // 1200 bytes: over the API's limit, cut on a rune
		if !w.Event(nodeRef("w1"), pod, corev1.EventTypeWarning, "ShellInContainer", RuntimeEventAction, note) {
			t.Fatal("Event not taken")
		}
		waitUntil(t, "the Event written", func() bool { return o.recorded.Load() == 1 })
		after := time.Now()
		evs := api.events(t, "default", "w1")
		if len(evs) != 1 {
			t.Fatalf("%d Events about w1, want 1: %+v", len(evs), evs)
		}
		e := evs[0]
		name, suffix, _ := strings.Cut(e.Name, ".")
		if name != "w1" || len(suffix) < 15 || strings.Trim(suffix, "0123456789abcdef") != "" {
			t.Errorf("name %q, want w1.<hex nanoseconds>", e.Name)
		}
		if e.ReportingController != "nodeguard" || e.ReportingInstance != "nodeguard-w1" ||
			e.Regarding != nodeRef("w1") || e.Related == nil || *e.Related != *pod ||
			e.Type != corev1.EventTypeWarning || e.Reason != "ShellInContainer" || e.Action != RuntimeEventAction || e.Series != nil {
			t.Errorf("Event %+v", e)
		}
		if e.EventTime.Time.Before(before) || e.EventTime.Time.After(after) {
			t.Errorf("eventTime %s not between %s and %s", e.EventTime, before, after)
		}
		if len(e.Note) > maxNoteLen || !utf8.ValidString(e.Note) || !strings.HasPrefix(e.Note, "üüü") || !strings.HasSuffix(e.Note, "…") {
			t.Errorf("note of %d bytes: %q", len(e.Note), e.Note)
		}

		// About a namespaced object, the Event goes to its namespace.
		api.createNamespace(t, "shop")
		w.Event(*pod, nil, corev1.EventTypeNormal, "Tested", "Test", "in the pod's namespace")
		waitUntil(t, "the pod's Event written", func() bool { return len(api.events(t, "shop", "web-0")) == 1 })
		if e := api.events(t, "shop", "web-0")[0]; e.Namespace != "shop" || !strings.HasPrefix(e.Name, "web-0.") {
			t.Errorf("Event %s/%s", e.Namespace, e.Name)
		}
		if o.dropped.Load() != 0 {
			t.Errorf("outcomes: %s", o)
		}
	})

	t.Run("a repeat within the window is a series", func(t *testing.T) {
		w, o := testWriter(t, api.client(t, "", nil), "w2", eventQueueSize, zerolog.Nop())
		runWriter(t, w)
		emit := func(note string) {
			w.Event(nodeRef("w2"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", note)
		}
		emit("port 4444 open")
		waitUntil(t, "the first write", func() bool { return o.recorded.Load() == 1 })
		first := api.events(t, "default", "w2")
		emit("port 4444 open")
		waitUntil(t, "the second write", func() bool { return o.recorded.Load() == 2 })
		evs := api.events(t, "default", "w2")
		if len(first) != 1 || len(evs) != 1 || evs[0].Name != first[0].Name {
			t.Fatalf("a repeat made another Event: %d then %d Events", len(first), len(evs))
		}
		s := evs[0].Series
		if s == nil || s.Count != 2 || s.LastObservedTime.Before(&evs[0].EventTime) {
			t.Fatalf("series %+v of Event at %s", s, evs[0].EventTime)
		}
		if !evs[0].EventTime.Equal(&first[0].EventTime) || evs[0].Note != "port 4444 open" {
			t.Errorf("the series changed the Event: %+v", evs[0])
		}
		emit("port 4444 open")
		waitUntil(t, "the third write", func() bool { return o.recorded.Load() == 3 })
		if evs := api.events(t, "default", "w2"); len(evs) != 1 || evs[0].Series == nil || evs[0].Series.Count != 3 {
			t.Errorf("after a third: %+v", evs)
		}
		// Another note is another Event.
		emit("port 5555 open")
		waitUntil(t, "the fourth write", func() bool { return o.recorded.Load() == 4 })
		if evs := api.events(t, "default", "w2"); len(evs) != 2 {
			t.Errorf("%d Events, want 2", len(evs))
		}
	})

	t.Run("a repeat after the window is a new Event", func(t *testing.T) {
		w, o := testWriter(t, api.client(t, "", nil), "w3", eventQueueSize, zerolog.Nop())
		clock := time.Now()
		w.now = func() time.Time { return clock }
		stop := runWriter(t, w)
		w.Event(nodeRef("w3"), nil, corev1.EventTypeNormal, "NoUnexpectedPorts", "Scan", "resolved")
		waitUntil(t, "the first write", func() bool { return o.recorded.Load() == 1 })
		clock = clock.Add(seriesWindow + time.Second)
		w.Event(nodeRef("w3"), nil, corev1.EventTypeNormal, "NoUnexpectedPorts", "Scan", "resolved")
		waitUntil(t, "the second write", func() bool { return o.recorded.Load() == 2 })
		evs := api.events(t, "default", "w3")
		if len(evs) != 2 || evs[0].Series != nil || evs[1].Series != nil {
			t.Errorf("Events %+v, want two without a series", evs)
		}
		stop()
		if len(w.series) != 1 {
			t.Errorf("the writer remembers %d series, want only the live one", len(w.series))
		}
	})

	t.Run("a series whose Event is gone is written again", func(t *testing.T) {
		w, o := testWriter(t, api.client(t, "", nil), "w4", eventQueueSize, zerolog.Nop())
		runWriter(t, w)
		w.Event(nodeRef("w4"), nil, corev1.EventTypeWarning, "KernelHardeningMissing", "Scan", "note")
		waitUntil(t, "the first write", func() bool { return o.recorded.Load() == 1 })
		first := api.events(t, "default", "w4")[0]
		// What the API server does when the Event's TTL runs out.
		if err := api.admin.EventsV1().Events("default").Delete(ctx, first.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w.Event(nodeRef("w4"), nil, corev1.EventTypeWarning, "KernelHardeningMissing", "Scan", "note")
		waitUntil(t, "the second write", func() bool { return o.recorded.Load() == 2 })
		evs := api.events(t, "default", "w4")
		if len(evs) != 1 || evs[0].Name != first.Name || evs[0].Series == nil || evs[0].Series.Count != 2 || o.dropped.Load() != 0 {
			t.Errorf("Events %+v (%s), want %s again with a series of 2", evs, o, first.Name)
		}
	})

	t.Run("a full queue drops and counts, never blocks", func(t *testing.T) {
		w, o := testWriter(t, api.client(t, "", nil), "w5", 2, zerolog.Nop())
		// Not running yet: nothing drains the queue.
		start := time.Now()
		var taken []bool
		for i := range 5 {
			taken = append(taken, w.Event(nodeRef("w5"), nil, corev1.EventTypeWarning, "RuntimeAnomaly", "Detected", fmt.Sprintf("match %d", i)))
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("queuing 5 Events took %s", d)
		}
		if fmt.Sprint(taken) != "[true true false false false]" || o.dropped.Load() != 3 || o.recorded.Load() != 0 {
			t.Fatalf("taken %v, %s; want two taken and three dropped", taken, o)
		}
		stop := runWriter(t, w)
		waitUntil(t, "the queued Events written", func() bool { return o.recorded.Load() == 2 })
		evs := api.events(t, "default", "w5")
		var notes []string
		for _, e := range evs {
			notes = append(notes, e.Note)
		}
		if len(evs) != 2 || !strings.Contains(strings.Join(notes, ","), "match 0") || !strings.Contains(strings.Join(notes, ","), "match 1") {
			t.Errorf("Events with notes %q, want match 0 and match 1", notes)
		}
		// Once stopped, Events are refused without a count.
		stop()
		if w.Event(nodeRef("w5"), nil, corev1.EventTypeWarning, "RuntimeAnomaly", "Detected", "late") || o.dropped.Load() != 3 {
			t.Errorf("an Event after Run returned: %s", o)
		}
	})

	t.Run("transient failures are retried", func(t *testing.T) {
		proxy := newFaultProxy(t, api, isEventWrite, http.StatusServiceUnavailable, dropConnection, http.StatusTooManyRequests, http.StatusInternalServerError)
		w, o := testWriter(t, newClient(t, &rest.Config{Host: proxy.URL()}), "w6", eventQueueSize, zerolog.Nop())
		runWriter(t, w)
		w.Event(nodeRef("w6"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", "after four failures")
		waitUntil(t, "the Event written", func() bool { return o.recorded.Load() == 1 })
		if n := proxy.seen(); n != 5 || o.dropped.Load() != 0 || len(api.events(t, "default", "w6")) != 1 {
			t.Errorf("%d writes (want 5), %s, %d Events", n, o, len(api.events(t, "default", "w6")))
		}
	})

	t.Run("retries end", func(t *testing.T) {
		faults := make([]int, 100)
		for i := range faults {
			faults[i] = http.StatusServiceUnavailable
		}
		proxy := newFaultProxy(t, api, isEventWrite, faults...)
		var logs syncBuffer
		w, o := testWriter(t, newClient(t, &rest.Config{Host: proxy.URL()}), "w7", eventQueueSize, zerolog.New(&logs))
		runWriter(t, w)
		w.Event(nodeRef("w7"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", "never written")
		w.Event(nodeRef("w7"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", "nor this one")
		waitUntil(t, "both dropped", func() bool { return o.dropped.Load() == 2 })
		if n := proxy.seen(); n != 2*maxEventTries || o.recorded.Load() != 0 {
			t.Errorf("%d writes (want %d), %s", n, 2*maxEventTries, o)
		}
		if n := strings.Count(logs.String(), `"level":"warn"`); n != 1 || !strings.Contains(logs.String(), `"reason":"ServerError"`) {
			t.Errorf("%d warnings, want 1 naming ServerError:\n%s", n, logs.String())
		}
	})

	t.Run("refused Events are dropped at once", func(t *testing.T) {
		noEvents := api.userWith(t, "no-events", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}})
		var reqs requestLog
		var logs syncBuffer
		w, o := testWriter(t, api.client(t, noEvents, &reqs), "w8", eventQueueSize, zerolog.New(&logs))
		runWriter(t, w)
		w.Event(nodeRef("w8"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", "forbidden")
		w.Event(nodeRef("w8"), nil, corev1.EventTypeWarning, "UnexpectedPortsOpen", "Scan", "forbidden too")
		waitUntil(t, "both dropped", func() bool { return o.dropped.Load() == 2 })
		if r := reqs.take(); len(r) != 2 {
			t.Errorf("requests %v, want one attempt per Event", r)
		}
		out := logs.String()
		if strings.Count(out, `"level":"warn"`) != 1 || !strings.Contains(out, `"reason":"Forbidden"`) || !strings.Contains(out, "manifests/rbac.yaml") {
			t.Errorf("log:\n%s", out)
		}
	})
}

// isEventWrite matches the writer's creates and patches of Events.
func isEventWrite(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/apis/events.k8s.io/v1/") && (r.Method == http.MethodPost || r.Method == http.MethodPatch)
}

// dropConnection as a fault closes the connection without an answer.
const dropConnection = -1

// faultProxy stands between a client and the real API server (which it
// reaches as the administrator). Requests that match answer with the next
// fault, while there is one; everything else reaches the API server.
type faultProxy struct {
	srv    *httptest.Server
	mu     sync.Mutex
	faults []int
	n      int
}

func newFaultProxy(t *testing.T, api *testAPI, match func(*http.Request) bool, faults ...int) *faultProxy {
	t.Helper()
	cfg := api.env.RESTConfig(t, api.env.Admin)
	upstream, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{faults: faults}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(upstream) },
		Transport:     rt,
		FlushInterval: -1,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			p.mu.Lock()
			p.n++
			fault := 0
			if len(p.faults) > 0 {
				fault, p.faults = p.faults[0], p.faults[1:]
			}
			p.mu.Unlock()
			switch {
			case fault == dropConnection:
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			case fault != 0:
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(fault)
				_ = json.NewEncoder(w).Encode(metav1.Status{
					TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
					Status:   metav1.StatusFailure, Code: int32(fault), Message: "injected by the test",
				})
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) URL() string { return p.srv.URL }

// seen is how many matching requests came.
func (p *faultProxy) seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
