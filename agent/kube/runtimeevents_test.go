package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/finding"
	"github.com/nodeguard/nodeguard/agent/runtime"
)

func TestRuleReason(t *testing.T) {
	for rule, want := range map[string]string{
		"shell-in-container":           "ShellInContainer",
		"package-manager-in-container": "PackageManagerInContainer",
		"bpf-load":                     "BpfLoad",
		"setuid-root":                  "SetuidRoot",
		"":                             "RuntimeAnomaly",
		"--":                           "RuntimeAnomaly",
		"ünicode":                      "RuntimeAnomaly",
	} {
		if got := RuleReason(rule); got != want {
			t.Errorf("RuleReason(%q) = %q, want %q", rule, got, want)
		}
	}
}

func shellEvent(containerID, ns, pod string) runtime.Event {
	return runtime.Event{
		Rule: "shell-in-container", Severity: finding.High, Message: "shell /bin/sh started in a container",
		PID: 4242, PPID: 4200, UID: 0, Comm: "sh", ParentComm: "runc", Exe: "/bin/sh",
		ContainerID: containerID, Runtime: "containerd", Namespace: ns, Pod: pod, ContainerName: "app",
	}
}

func TestRuntimeEventNote(t *testing.T) {
	ev := shellEvent(idApp, "shop", "web-0")
	note := RuntimeEventNote(&ev)
	for _, want := range []string{"shell /bin/sh started", "process sh (pid 4242", "exe /bin/sh", "parent runc/4200", "container app of pod shop/web-0", "(111111111111)"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	ev = shellEvent(idApp, "", "")
	if note := RuntimeEventNote(&ev); !strings.Contains(note, "in container 111111111111 (no pod") {
		t.Errorf("unattributed container: %q", note)
	}
	ev = shellEvent("", "", "")
	ev.Message = strings.Repeat("m", 5000)
	if note := RuntimeEventNote(&ev); len(note) > maxNoteLen {
		t.Errorf("note of %d bytes, the API server takes %d", len(note), maxNoteLen)
	}
}

// TestRuntimeEvents drives the real events broadcaster into the fake
// clientset: per rule and container, three Events, then the rate limit.
func TestRuntimeEvents(t *testing.T) {
	m, client, _ := newTestManager(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the recorder started", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.recorder != nil })

	web := shellEvent(idApp, "shop", "web-0")
	for range 10 {
		m.RuntimeEvent(&web)
	}
	other := shellEvent(idNew, "shop", "api-0")
	m.RuntimeEvent(&other)
	if r, d := testutil.ToFloat64(m.events.WithLabelValues("recorded")), testutil.ToFloat64(m.events.WithLabelValues("dropped")); r != 4 || d != 7 {
		t.Errorf("recorded %v dropped %v, want 4 and 7", r, d)
	}

	var evs []eventsv1.Event
	waitUntil(t, "an Event for each pod", func() bool {
		list, err := client.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		evs = list.Items
		return len(evs) == 2
	})
	byPod := map[string]eventsv1.Event{}
	for _, e := range evs {
		if e.Related != nil {
			byPod[e.Related.Namespace+"/"+e.Related.Name] = e
		}
	}
	e, ok := byPod["shop/web-0"]
	if !ok {
		t.Fatalf("no Event related to pod shop/web-0: %+v", evs)
	}
	if e.Reason != "ShellInContainer" || e.Type != corev1.EventTypeWarning || e.Action != RuntimeEventAction ||
		e.Regarding.Kind != "Node" || e.Regarding.Name != "n1" || e.ReportingController != ReportingController ||
		!strings.Contains(e.Note, "pod shop/web-0") {
		t.Errorf("Event %+v", e)
	}
	if _, ok := byPod["shop/api-0"]; !ok {
		t.Errorf("the second pod's Event was folded into the first: %+v", evs)
	}
}
