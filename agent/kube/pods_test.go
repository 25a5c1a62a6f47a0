package kube

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	idApp   = "1111111111111111111111111111111111111111111111111111111111111111"
	idInit  = "2222222222222222222222222222222222222222222222222222222222222222"
	idDebug = "3333333333333333333333333333333333333333333333333333333333333333"
	idNew   = "4444444444444444444444444444444444444444444444444444444444444444"
	idOther = "5555555555555555555555555555555555555555555555555555555555555555"
	idLate  = "6666666666666666666666666666666666666666666666666666666666666666"
)

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"big": strings.Repeat("x", 4096)}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
}

// setStatuses sets a pod's container statuses as the kubelet would.
func (a *testAPI) setStatuses(t *testing.T, p *corev1.Pod, init, ctrs, ephemeral []corev1.ContainerStatus) *corev1.Pod {
	t.Helper()
	p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses = init, ctrs, ephemeral
	out, err := a.admin.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPodIndex(t *testing.T) {
	api := startAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api.createNamespace(t, "shop")
	pods := api.admin.CoreV1().Pods("shop")
	web, err := pods.Create(ctx, testPod("web-0", "n1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web = api.setStatuses(t, web,
		[]corev1.ContainerStatus{{Name: "setup", ContainerID: "cri-o://" + idInit, Image: "nginx"}},
		[]corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + idApp, Image: "nginx"}},
		[]corev1.ContainerStatus{{Name: "debugger", ContainerID: "docker://" + idDebug, Image: "busybox"}})
	// Another node's pod, which the index must never hold.
	other, err := pods.Create(ctx, testPod("db-0", "n2"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api.setStatuses(t, other, nil, []corev1.ContainerStatus{{Name: "db", ContainerID: "containerd://" + idOther, Image: "postgres"}}, nil)

	var reqs requestLog
	p, err := NewPodIndex(api.client(t, "", &reqs), "n1", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	waitUntil(t, "the pod informer synced", p.Synced)

	for _, c := range []struct{ id, container string }{{idApp, "app"}, {idInit, "setup"}, {idDebug, "debugger"}} {
		ns, pod, ctr, ok := p.Lookup(c.id)
		if !ok || ns != "shop" || pod != "web-0" || ctr != c.container {
			t.Errorf("Lookup(%s) = %q %q %q %v, want shop web-0 %s", c.id[:4], ns, pod, ctr, ok, c.container)
		}
	}
	if _, _, _, ok := p.Lookup(idOther); ok {
		t.Error("a pod of another node resolved: the field selector was not applied")
	}
	if keys := p.informer.GetStore().ListKeys(); len(keys) != 1 || keys[0] != "shop/web-0" {
		t.Errorf("cached pods %v, want only shop/web-0", keys)
	}
	if _, _, _, ok := p.Lookup(idNew); ok {
		t.Error("an unknown container id resolved")
	}
	if _, _, _, ok := p.Lookup("containerd://" + idApp); ok {
		t.Error("a prefixed id resolved; the detector passes bare ids")
	}
	if _, _, _, ok := p.Lookup(""); ok {
		t.Error("the empty id resolved")
	}
	// The cache keeps only what Lookup needs.
	objs, _ := p.informer.GetIndexer().ByIndex(containerIDIndex, idApp)
	if len(objs) != 1 {
		t.Fatalf("%d cached pods for the id", len(objs))
	}
	if cached := objs[0].(*corev1.Pod); len(cached.Annotations) != 0 || len(cached.Spec.Containers) != 0 || cached.Status.ContainerStatuses[0].Image != "" {
		t.Errorf("cached pod not trimmed: %+v", cached)
	}

	// A restarted container gets a new id; the old one no longer resolves.
	api.setStatuses(t, web, web.Status.InitContainerStatuses,
		[]corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + idNew, Image: "nginx"}}, web.Status.EphemeralContainerStatuses)
	waitUntil(t, "the new container id resolves", func() bool { _, _, c, ok := p.Lookup(idNew); return ok && c == "app" })
	if _, _, _, ok := p.Lookup(idApp); ok {
		t.Error("the replaced container id still resolves")
	}
	// A pod scheduled to the node later is picked up by the watch.
	late, err := pods.Create(ctx, testPod("late-0", "n1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api.setStatuses(t, late, nil, []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + idLate}}, nil)
	waitUntil(t, "the late pod resolves", func() bool { _, pod, _, ok := p.Lookup(idLate); return ok && pod == "late-0" })
	if err := pods.Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deleted pod is forgotten", func() bool { _, _, _, ok := p.Lookup(idNew); return !ok })

	// Every list and watch asked for this node's pods only.
	var listed bool
	for _, r := range reqs.takeURLs() {
		if r.method != "GET" || r.Path != "/api/v1/pods" {
			t.Errorf("request %s %s", r.method, r.Path)
		}
		if sel := r.Query().Get("fieldSelector"); sel != "spec.nodeName=n1" {
			t.Errorf("request %s with field selector %q", r, sel)
		}
		listed = true
	}
	if !listed {
		t.Error("no request recorded")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("Run did not return after its context ended")
	}
}

// TestPodIndexWithoutAccess: without list on pods the index says once, as a
// warning, what it lacks, and keeps retrying.
func TestPodIndexWithoutAccess(t *testing.T) {
	api := startAPI(t)
	var logs syncBuffer
	p, err := NewPodIndex(api.client(t, api.env.Kubeconfig(t, "nobody"), nil), "n1", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "listing this node's pods failed") })
	line := logs.String()
	if !strings.Contains(line, `"level":"warn"`) || !strings.Contains(line, `"reason":"Forbidden"`) {
		t.Errorf("log %s", line)
	}
	if p.Synced() {
		t.Error("synced without access")
	}
}

func TestStripRuntimePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"containerd://" + idApp: idApp,
		"cri-o://" + idApp:      idApp,
		"docker://" + idApp:     idApp,
		idApp:                   idApp,
		"":                      "",
	} {
		if got := StripRuntimePrefix(in); got != want {
			t.Errorf("StripRuntimePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// syncBuffer is a log sink read while another goroutine writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitUntil polls cond; informers deliver asynchronously.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
