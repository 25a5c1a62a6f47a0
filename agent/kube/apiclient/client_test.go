package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// requestLog records the requests a client sends: method, path and
// Content-Type/Accept, to check the wire format without a fake server.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path+" ct="+r.Header.Get("Content-Type")+" accept="+r.Header.Get("Accept"))
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (l *requestLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.reqs) == 0 {
		return ""
	}
	return l.reqs[len(l.reqs)-1]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClientOnAPIServer makes every call of the client against a real
// kube-apiserver, checked with client-go's clientset (test code only).
func TestClientOnAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	admin := env.Client(t, env.Admin)
	ctx := context.Background()
	var log requestLog
	cfg := env.RESTConfig(t, env.Admin)
	cfg.WrapTransport = log.wrap
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host() != env.Host {
		t.Errorf("Host() = %q, want %q", c.Host(), env.Host)
	}

	t.Run("nodes", func(t *testing.T) {
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: "n1", Labels: map[string]string{"zone": "a"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		n, err := c.GetNode(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if n.Name != "n1" || n.Labels["zone"] != "a" || n.ResourceVersion == "" {
			t.Errorf("GetNode: %+v", n.ObjectMeta)
		}
		// Node reads are protobuf on the wire.
		if l := log.last(); !strings.HasPrefix(l, "GET /api/v1/nodes/n1 ") || !strings.Contains(l, "accept=application/vnd.kubernetes.protobuf") {
			t.Errorf("request %q", l)
		}
		_, err = c.GetNode(ctx, "missing")
		if !apierrors.IsNotFound(err) {
			t.Errorf("GetNode(missing): %v, want a NotFound status error", err)
		}

		patch := []byte(`{"status":{"conditions":[{"type":"Probe","status":"True","reason":"Test","message":"m","lastHeartbeatTime":"2024-01-01T00:00:00Z","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}`)
		got, err := c.PatchNodeStatus(ctx, "n1", patch, "nodeguard-test")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != "Probe" {
			t.Errorf("PatchNodeStatus returned %+v", got.Status.Conditions)
		}
		if l := log.last(); !strings.HasPrefix(l, "PATCH /api/v1/nodes/n1/status ") || !strings.Contains(l, "ct=application/strategic-merge-patch+json") {
			t.Errorf("request %q", l)
		}
		stored, err := admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		manager := ""
		for _, f := range stored.ManagedFields {
			if f.Subresource == "status" {
				manager = f.Manager
			}
		}
		if manager != "nodeguard-test" || len(stored.Status.Conditions) != 1 {
			t.Errorf("stored node: status field manager %q, conditions %+v", manager, stored.Status.Conditions)
		}
		// The status subresource leaves the spec alone.
		if _, err := c.PatchNodeStatus(ctx, "n1", []byte(`{"spec":{"unschedulable":true}}`), "nodeguard-test"); err != nil {
			t.Fatal(err)
		}
		if n, _ := admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); n.Spec.Unschedulable {
			t.Error("a status patch changed the spec")
		}
	})

	t.Run("pods", func(t *testing.T) {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller manager here to make the namespace's default service account.
		if _, err := admin.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mkPod := func(name, node string) {
			t.Helper()
			if _, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		mkPod("here", "n1")
		mkPod("there", "n2")
		list, err := c.ListPods(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "here" || list.ResourceVersion == "" {
			t.Fatalf("ListPods: %d items, rv %q", len(list.Items), list.ResourceVersion)
		}
		timeout := int64(30)
		w, err := c.WatchPods(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1", ResourceVersion: list.ResourceVersion, TimeoutSeconds: &timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		mkPod("there-2", "n2")
		mkPod("here-2", "n1")
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Added || !ok || p.Name != "here-2" {
				t.Errorf("watch event %s %T %v", ev.Type, ev.Object, ev.Object)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no watch event for the new pod on n1")
		}
	})

	t.Run("a watch outlives the request timeout", func(t *testing.T) {
		cfg := env.RESTConfig(t, env.Admin)
		cfg.Timeout = time.Second // the agent's is 30s
		short, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		timeout := int64(60)
		w, err := short.WatchPods(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n3", TimeoutSeconds: &timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		time.Sleep(3 * time.Second)
		if _, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "later"},
			Spec:       corev1.PodSpec{NodeName: "n3", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev, ok := <-w.ResultChan():
			if p, isPod := ev.Object.(*corev1.Pod); !ok || ev.Type != watch.Added || !isPod || p.Name != "later" {
				t.Errorf("watch event %s %v (open %v)", ev.Type, ev.Object, ok)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no watch event for the new pod")
		}
		// Requests other than watches keep the timeout.
		if short.core.Client.Timeout != time.Second {
			t.Errorf("request timeout %s", short.core.Client.Timeout)
		}
	})

	t.Run("events", func(t *testing.T) {
		now := metav1.NewMicroTime(time.Now())
		ev, err := c.CreateEvent(ctx, &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "n1.test", Namespace: "default"},
			EventTime:  now, ReportingController: "nodeguard", ReportingInstance: "nodeguard-n1",
			Action: "Scan", Reason: "Test", Type: corev1.EventTypeNormal, Note: "hello",
			Regarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "n1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Name != "n1.test" || ev.Note != "hello" || ev.ResourceVersion == "" {
			t.Errorf("CreateEvent returned %+v", ev)
		}
		if l := log.last(); !strings.HasPrefix(l, "POST /apis/events.k8s.io/v1/namespaces/default/events ") || !strings.Contains(l, "ct=application/json") {
			t.Errorf("request %q", l)
		}
		series, _ := json.Marshal(map[string]any{"series": eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now())}})
		ev, err = c.PatchEvent(ctx, "default", "n1.test", series)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Series == nil || ev.Series.Count != 2 {
			t.Errorf("PatchEvent returned series %+v", ev.Series)
		}
		stored, err := admin.EventsV1().Events("default").Get(ctx, "n1.test", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if stored.Series == nil || stored.Series.Count != 2 || stored.Note != "hello" {
			t.Errorf("stored Event %+v", stored)
		}
		if _, err := c.PatchEvent(ctx, "default", "gone", series); !apierrors.IsNotFound(err) {
			t.Errorf("PatchEvent(gone): %v, want NotFound", err)
		}
		// An invalid Event is a status error the caller can classify.
		_, err = c.CreateEvent(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default"}})
		if !apierrors.IsInvalid(err) {
			t.Errorf("CreateEvent(invalid): %v, want Invalid", err)
		}
	})

	t.Run("reviews", func(t *testing.T) {
		if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scraper"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "scraper", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := c.CreateTokenReview(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok.Status.Token}})
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Status.Authenticated || tr.Status.User.Username != "system:serviceaccount:default:scraper" {
			t.Errorf("TokenReview status %+v", tr.Status)
		}
		tr, err = c.CreateTokenReview(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "not-a-token"}})
		if err != nil || tr.Status.Authenticated {
			t.Errorf("TokenReview of garbage: %+v, %v", tr, err)
		}
		sar, err := c.CreateSubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:default:scraper", Groups: []string{"system:serviceaccounts"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed {
			t.Errorf("a service account without a grant may get /metrics: %+v", sar.Status)
		}
		sar, err = c.CreateSubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "root", Groups: []string{"system:masters"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
		}})
		if err != nil || !sar.Status.Allowed {
			t.Errorf("system:masters may not get /metrics: %+v, %v", sar, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		nobody, err := New(env.RESTConfig(t, env.Kubeconfig(t, "nobody")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nobody.GetNode(ctx, "n1"); !apierrors.IsForbidden(err) {
			t.Errorf("GetNode as nobody: %v, want Forbidden", err)
		}
		untrusted, err := New(env.RESTConfig(t, env.UntrustedKubeconfig(t, "rogue")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := untrusted.GetNode(ctx, "n1"); !apierrors.IsUnauthorized(err) {
			t.Errorf("GetNode with an untrusted certificate: %v, want Unauthorized", err)
		}
	})

	t.Run("one rate limit for every group", func(t *testing.T) {
		cfg := env.RESTConfig(t, env.Admin)
		cfg.QPS, cfg.Burst = 4, 1
		limited, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Nine requests across three group-versions after the burst of one:
		// at 4 per second they take at least two seconds. Separate limiters
		// per group would let them through in well under one.
		start := time.Now()
		for range 3 {
			if _, err := limited.GetNode(ctx, "n1"); err != nil {
				t.Fatal(err)
			}
			if _, err := limited.PatchEvent(ctx, "default", "n1.test", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := limited.CreateTokenReview(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < 1900*time.Millisecond {
			t.Errorf("9 requests at QPS 4, burst 1 took %s", d)
		}
		cfg.Burst = 0
		if _, err := New(cfg); err == nil {
			t.Error("QPS without a burst accepted")
		}
	})
}
