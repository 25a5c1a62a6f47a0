package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	idApp   = "1111111111111111111111111111111111111111111111111111111111111111"
	idInit  = "2222222222222222222222222222222222222222222222222222222222222222"
	idDebug = "3333333333333333333333333333333333333333333333333333333333333333"
	idNew   = "4444444444444444444444444444444444444444444444444444444444444444"
)

func testPod(ns, name, node string, statuses ...corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{"big": strings.Repeat("x", 4096)}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status:     corev1.PodStatus{ContainerStatuses: statuses},
	}
}

func TestPodIndex(t *testing.T) {
	web := testPod("shop", "web-0", "n1", corev1.ContainerStatus{Name: "app", ContainerID: "containerd://" + idApp, Image: "nginx"})
	web.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup", ContainerID: "cri-o://" + idInit}}
	web.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "debugger", ContainerID: "docker://" + idDebug}}
	client := fake.NewClientset(web)
	p, err := NewPodIndex(client, "n1", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitUntil(t, "the pod informer synced", p.Synced)

	// Only this node's pods are asked for.
	var selectors []string
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "pods" {
			selectors = append(selectors, l.GetListRestrictions().Fields.String())
		}
	}
	if len(selectors) == 0 || selectors[0] != "spec.nodeName=n1" {
		t.Errorf("pod lists with field selectors %q, want spec.nodeName=n1", selectors)
	}

	for _, c := range []struct{ id, container string }{{idApp, "app"}, {idInit, "setup"}, {idDebug, "debugger"}} {
		ns, pod, ctr, ok := p.Lookup(c.id)
		if !ok || ns != "shop" || pod != "web-0" || ctr != c.container {
			t.Errorf("Lookup(%s) = %q %q %q %v, want shop web-0 %s", c.id[:4], ns, pod, ctr, ok, c.container)
		}
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
	web.Status.ContainerStatuses[0].ContainerID = "containerd://" + idNew
	if _, err := client.CoreV1().Pods("shop").UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new container id resolves", func() bool { _, _, c, ok := p.Lookup(idNew); return ok && c == "app" })
	if _, _, _, ok := p.Lookup(idApp); ok {
		t.Error("the replaced container id still resolves")
	}
	if err := client.CoreV1().Pods("shop").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deleted pod is forgotten", func() bool { _, _, _, ok := p.Lookup(idNew); return !ok })
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
