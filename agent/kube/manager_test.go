package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func newTestManager(t *testing.T, client *apiclient.Client, node string) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Options{Client: client, NodeName: node, Log: zerolog.Nop(), Registerer: reg, HeartbeatPeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// runManager runs m until the test ends.
func runManager(t *testing.T, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestManagerOnAPIServer(t *testing.T) {
	api := startAPI(t)
	ctx := context.Background()

	t.Run("patches only owned conditions", func(t *testing.T) {
		old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
		api.createNode(t, "n1", map[string]string{"node-role.kubernetes.io/control-plane": ""},
			corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: old, LastTransitionTime: old},
			corev1.NodeCondition{Type: SecurityUpdatesPending, Status: corev1.ConditionTrue, Reason: "SecurityUpdatesAvailable", LastHeartbeatTime: old, LastTransitionTime: old})
		var reqs requestLog
		m, _ := newTestManager(t, api.client(t, "", &reqs), "n1")
		if err := m.LookupNode(ctx); err != nil {
			t.Fatal(err)
		}
		if r, _, ok := m.NodeRole(); !ok || r != probes.ControlPlane {
			t.Fatalf("role %s %v", r, ok)
		}
		m.Observe(report([]string{"ports"}, fail("ports", "ports.listener", finding.High, "Unexpected open port", "TCP 0.0.0.0:4444")))
		m.SetRuntimeAnomaly(true, "ShellInContainer", "a shell was spawned in pod default/web")
		if _, err := m.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := api.admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
		for _, c := range got.Status.Conditions {
			byType[c.Type] = c
		}
		// SecurityUpdatesPending is removed: its probe did not run.
		if len(byType) != 3 {
			t.Fatalf("conditions %+v, want Ready, UnexpectedOpenPorts, RuntimeAnomalyDetected", got.Status.Conditions)
		}
		if r := byType[corev1.NodeReady]; !r.LastHeartbeatTime.Equal(&old) || r.Reason != "KubeletReady" {
			t.Errorf("Ready changed: %+v", r)
		}
		if c := byType[UnexpectedOpenPorts]; c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, "4444") {
			t.Errorf("UnexpectedOpenPorts %+v", c)
		}
		if c := byType[RuntimeAnomalyDetected]; c.Status != corev1.ConditionTrue || c.Reason != "ShellInContainer" {
			t.Errorf("RuntimeAnomalyDetected %+v", c)
		}
		managed := false
		for _, f := range got.ManagedFields {
			managed = managed || f.Subresource == "status" && f.Manager == ReportingController
		}
		if !managed {
			t.Errorf("no status fields managed by %q: %+v", ReportingController, got.ManagedFields)
		}
		if err := m.Ready(); err != nil {
			t.Errorf("Ready: %v", err)
		}

		// Unchanged: no request at all until the heartbeat.
		reqs.take()
		if _, err := m.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if r := reqs.take(); len(r) != 0 {
			t.Errorf("an unchanged sync made %d requests: %v", len(r), r)
		}

		// An invalid reason falls back to the default one.
		m.SetRuntimeAnomaly(false, "not camel case", "")
		if _, err := m.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if c := api.conditionOf(t, "n1", RuntimeAnomalyDetected); c == nil || c.Reason != "NoRuntimeAnomaly" || c.Status != corev1.ConditionFalse {
			t.Errorf("RuntimeAnomalyDetected %+v", c)
		}
		if r := reqs.take(); len(r) != 1 || r[0] != "PATCH /api/v1/nodes/n1/status" {
			t.Errorf("a change made the requests %v, want one status patch", r)
		}
		m.ClearRuntimeAnomaly()
		if _, err := m.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if c := api.conditionOf(t, "n1", RuntimeAnomalyDetected); c != nil {
			t.Errorf("RuntimeAnomalyDetected not removed: %+v", c)
		}
	})

	t.Run("errors are counted and shown in readiness", func(t *testing.T) {
		api.createNode(t, "n2", nil)
		// May read nodes but not patch their status.
		reader := api.userWith(t, "node-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}})
		var reqs requestLog
		m, reg := newTestManager(t, api.client(t, reader, &reqs), "n2")
		m.Observe(report([]string{"ports"}))
		for range 3 {
			if _, err := m.SyncOnce(ctx); !apierrors.IsForbidden(err) {
				t.Fatalf("SyncOnce: %v, want Forbidden", err)
			}
		}
		if v := testutil.ToFloat64(m.syncErrors.WithLabelValues(ReasonForbidden)); v != 3 {
			t.Errorf("sync errors %v, want 3", v)
		}
		if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "Forbidden") || !strings.Contains(err.Error(), "3 failed attempts") {
			t.Errorf("Ready: %v", err)
		}
		// After a failed patch the node is read again before the next attempt.
		reqs.take()
		_, _ = m.SyncOnce(ctx)
		if r := reqs.take(); len(r) != 2 || r[0] != "GET /api/v1/nodes/n2" || r[1] != "PATCH /api/v1/nodes/n2/status" {
			t.Errorf("requests after a failure: %v", r)
		}
		if n, err := testutil.GatherAndCount(reg, "nodeguard_kube_sync_errors_total"); err != nil || n != len(syncErrorReasons) {
			t.Errorf("sync error series %d (%v), want one per reason", n, err)
		}

		// A node that does not exist.
		m2, _ := newTestManager(t, api.client(t, "", nil), "no-such-node")
		m2.Observe(report([]string{"ports"}))
		if _, err := m2.SyncOnce(ctx); !apierrors.IsNotFound(err) {
			t.Fatalf("SyncOnce: %v, want NotFound", err)
		}
		if v := testutil.ToFloat64(m2.syncErrors.WithLabelValues(ReasonNodeNotFound)); v != 1 {
			t.Errorf("NodeNotFound errors %v, want 1", v)
		}
	})

	t.Run("transition Events", func(t *testing.T) {
		api.createNode(t, "n3", nil)
		m, _ := newTestManager(t, api.client(t, "", nil), "n3")
		runManager(t, m)
		m.Observe(report([]string{"ports"}, fail("ports", "ports.listener", finding.High, "Unexpected open port", "TCP 0.0.0.0:4444")))
		waitUntil(t, "a Warning Event", func() bool { return len(api.events(t, "default", "n3")) == 1 })
		e := api.events(t, "default", "n3")[0]
		if e.Type != corev1.EventTypeWarning || e.Reason != "UnexpectedPortsOpen" || e.Action != "Scan" ||
			e.ReportingController != ReportingController || e.ReportingInstance != "nodeguard-n3" ||
			e.Regarding != nodeRef("n3") || e.Related != nil || !strings.HasPrefix(e.Name, "n3.") ||
			!strings.HasPrefix(e.Note, "UnexpectedOpenPorts is now True: ") || !strings.Contains(e.Note, "4444") {
			t.Errorf("Event %+v", e)
		}
		m.Observe(report([]string{"ports"}))
		waitUntil(t, "a Normal Event", func() bool { return len(api.events(t, "default", "n3")) == 2 })
		for _, e := range api.events(t, "default", "n3") {
			if e.Reason == "NoUnexpectedPorts" && e.Type != corev1.EventTypeNormal {
				t.Errorf("Event %+v", e)
			}
		}
		waitUntil(t, "both counted", func() bool { return testutil.ToFloat64(m.events.WithLabelValues("recorded")) == 2 })
	})
}
