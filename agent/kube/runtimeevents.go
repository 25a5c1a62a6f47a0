package kube

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodeguard/nodeguard/agent/anomaly"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Runtime events are rate-limited per rule and container (Event.Key): a shell
// loop in one container yields a few Events, then one per interval, and
// cannot hide another container's.
const (
	runtimeEventBurst    = 3
	runtimeEventInterval = 5 * time.Minute
	// runtimeEventKeys bounds the limiter's memory under container churn.
	runtimeEventKeys = 4096
	// maxNoteLen is the API server's limit on an events.k8s.io note.
	maxNoteLen = 1024
)

// RuntimeEventAction is the action of runtime Events.
const RuntimeEventAction = "Detected"

// RuleReason is the Event reason of a runtime rule: its id in CamelCase
// ("shell-in-container" -> "ShellInContainer").
func RuleReason(rule string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(rule, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 || !isCamelCase(b.String()) {
		return "RuntimeAnomaly"
	}
	return b.String()
}

// RuntimeEventNote is the Event note: what ran, where.
func RuntimeEventNote(ev *anomaly.Event) string {
	var b strings.Builder
	b.WriteString(ev.Message)
	fmt.Fprintf(&b, "; process %s (pid %d, uid %d", ev.Comm, ev.PID, ev.UID)
	if ev.Exe != "" {
		b.WriteString(", exe " + ev.Exe)
	}
	if ev.ParentComm != "" {
		fmt.Fprintf(&b, ", parent %s/%d", ev.ParentComm, ev.PPID)
	}
	b.WriteString(")")
	switch {
	case ev.Pod != "":
		fmt.Fprintf(&b, " in container %s of pod %s/%s", ev.ContainerName, ev.Namespace, ev.Pod)
		if ev.ContainerID != "" {
			fmt.Fprintf(&b, " (%s)", shortID(ev.ContainerID))
		}
	case ev.ContainerID != "":
		fmt.Fprintf(&b, " in container %s (no pod on this node has it)", shortID(ev.ContainerID))
	default:
		b.WriteString(" on the host")
	}
	return finding.Truncate(b.String(), maxNoteLen)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// RuntimeEvent records a runtime rule match as a Warning Event on the Node,
// within the per rule and container rate limit. It never blocks: the Event
// writer queues and writes asynchronously.
func (m *Manager) RuntimeEvent(ev *anomaly.Event) {
	if !m.runtimeLimiter.AllowAt(ev.Key(), time.Now()) {
		m.events.WithLabelValues("dropped").Inc()
		return
	}
	// Naming the pod as the related object shows which pod it was, and keeps
	// each pod's Events out of another pod's series.
	var related *corev1.ObjectReference
	if ev.Pod != "" {
		related = &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ev.Namespace, Name: ev.Pod}
	}
	m.recorder.Event(nodeRef(m.opts.NodeName), related, corev1.EventTypeWarning, RuleReason(ev.Rule), RuntimeEventAction, RuntimeEventNote(ev))
}
