package kube

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/probes/model/finding"
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

func shellEvent(containerID, ns, pod string) anomaly.Event {
	return anomaly.Event{
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

// TestRuntimeEvents runs the manager against a real API server: per rule and
// container, three Events (identical ones: one Event and its series), then
// the rate limit.
func TestRuntimeEvents(t *testing.T) {
	api := startAPI(t)
	api.createNode(t, "n1", nil)
	m, _ := newTestManager(t, api.client(t, "", nil), "n1")
	runManager(t, m)

	web := shellEvent(idApp, "shop", "web-0")
	for range 10 {
		m.RuntimeEvent(&web)
	}
	other := shellEvent(idNew, "shop", "api-0")
	m.RuntimeEvent(&other)
	if d := testutil.ToFloat64(m.events.WithLabelValues("dropped")); d != 7 {
		t.Errorf("dropped %v, want 7", d)
	}
	waitUntil(t, "four writes", func() bool { return testutil.ToFloat64(m.events.WithLabelValues("recorded")) == 4 })

	byPod := map[string]eventsv1.Event{}
	evs := api.events(t, metav1.NamespaceDefault, "n1")
	for _, e := range evs {
		if e.Related != nil {
			byPod[e.Related.Namespace+"/"+e.Related.Name] = e
		}
	}
	if len(evs) != 2 {
		t.Errorf("%d Events, want one per pod: %+v", len(evs), evs)
	}
	e, ok := byPod["shop/web-0"]
	if !ok {
		t.Fatalf("no Event related to pod shop/web-0: %+v", evs)
	}
	if e.Reason != "ShellInContainer" || e.Type != corev1.EventTypeWarning || e.Action != RuntimeEventAction ||
		e.Regarding.Kind != "Node" || e.Regarding.Name != "n1" || e.ReportingController != ReportingController ||
		!strings.Contains(e.Note, "pod shop/web-0") || e.Series == nil || e.Series.Count != 3 {
		t.Errorf("Event %+v", e)
	}
	if _, ok := byPod["shop/api-0"]; !ok {
		t.Errorf("the second pod's Event was folded into the first: %+v", evs)
	}
	if v := testutil.ToFloat64(m.events.WithLabelValues("recorded")); v != 4 {
		t.Errorf("recorded %v, want 4", v)
	}
}
