package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodeguard/nodeguard/agent/finding"
	"github.com/nodeguard/nodeguard/probes"
)

// These tests run the manager against client-go's fake clientset, which
// applies strategic merge patches like the API server; the real API server
// is exercised by integration/conditions.

func newTestManager(t *testing.T, objs ...runtime.Object) (*Manager, *fake.Clientset, *prometheus.Registry) {
	t.Helper()
	client := fake.NewClientset(objs...)
	reg := prometheus.NewRegistry()
	m, err := New(Options{Client: client, NodeName: "n1", Log: zerolog.Nop(), Registerer: reg, HeartbeatPeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m, client, reg
}

func TestSyncPatchesOnlyOwnedConditions(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: old, LastTransitionTime: old},
			{Type: SecurityUpdatesPending, Status: corev1.ConditionTrue, Reason: "SecurityUpdatesAvailable", LastHeartbeatTime: old, LastTransitionTime: old},
		}},
	}
	m, client, _ := newTestManager(t, node)
	if err := m.LookupNode(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, _, ok := m.NodeRole(); !ok || r != probes.ControlPlane {
		t.Fatalf("role %s %v", r, ok)
	}
	m.Observe(report([]string{"ports"}, fail("ports", "ports.listener", finding.High, "Unexpected open port", "TCP 0.0.0.0:4444")))
	m.SetRuntimeAnomaly(true, "ShellInContainer", "a shell was spawned in pod default/web")
	if _, err := m.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range got.Status.Conditions {
		byType[c.Type] = c
	}
	if len(byType) != 3 {
		t.Fatalf("conditions %+v, want Ready, UnexpectedOpenPorts, RuntimeAnomalyDetected", got.Status.Conditions)
	}
	if r := byType[corev1.NodeReady]; !r.LastHeartbeatTime.Equal(&old) || r.Reason != "KubeletReady" {
		t.Errorf("Ready changed: %+v", r)
	}
	if c := byType[UnexpectedOpenPorts]; c.Status != corev1.ConditionTrue {
		t.Errorf("UnexpectedOpenPorts %+v", c)
	}
	if c := byType[RuntimeAnomalyDetected]; c.Status != corev1.ConditionTrue || c.Reason != "ShellInContainer" {
		t.Errorf("RuntimeAnomalyDetected %+v", c)
	}
	if err := m.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}

	// Unchanged: no request at all until the heartbeat.
	client.ClearActions()
	if _, err := m.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acts := client.Actions(); len(acts) != 0 {
		t.Errorf("an unchanged sync made %d requests: %v", len(acts), acts)
	}

	// An invalid reason falls back to the default one.
	m.SetRuntimeAnomaly(false, "not camel case", "")
	if _, err := m.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := conditionOf(t, client, RuntimeAnomalyDetected); c == nil || c.Reason != "NoRuntimeAnomaly" || c.Status != corev1.ConditionFalse {
		t.Errorf("RuntimeAnomalyDetected %+v", c)
	}
	m.ClearRuntimeAnomaly()
	if _, err := m.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := conditionOf(t, client, RuntimeAnomalyDetected); c != nil {
		t.Errorf("RuntimeAnomalyDetected not removed: %+v", c)
	}
}

func conditionOf(t *testing.T, client *fake.Clientset, typ corev1.NodeConditionType) *corev1.NodeCondition {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func TestSyncErrorsAreCountedAndShownInReadiness(t *testing.T) {
	m, client, reg := newTestManager(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes/status"}, "n1", errors.New("RBAC: denied"))
	})
	m.Observe(report([]string{"ports"}))
	for range 3 {
		if _, err := m.SyncOnce(context.Background()); !apierrors.IsForbidden(err) {
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
	client.ClearActions()
	_, _ = m.SyncOnce(context.Background())
	if acts := client.Actions(); len(acts) != 2 || acts[0].GetVerb() != "get" || acts[1].GetVerb() != "patch" {
		t.Errorf("actions after a failure: %v", acts)
	}
	if n, err := testutil.GatherAndCount(reg, "nodeguard_kube_sync_errors_total"); err != nil || n != len(syncErrorReasons) {
		t.Errorf("sync error series %d (%v), want one per reason", n, err)
	}
}

func TestPackageLevelRuntimeVerdictReachesTheManager(t *testing.T) {
	m, _, _ := newTestManager(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	SetRuntimeAnomaly(true, "", "reported before the manager started")
	SetActive(m)
	defer SetActive(nil)
	m.mu.Lock()
	v := m.runtime
	m.mu.Unlock()
	if v == nil || v.Status != corev1.ConditionTrue || v.Reason != "RuntimeAnomaly" {
		t.Fatalf("runtime verdict %+v", v)
	}
	SetRuntimeAnomaly(false, "", "")
	m.mu.Lock()
	v = m.runtime
	m.mu.Unlock()
	if v.Status != corev1.ConditionFalse {
		t.Errorf("runtime verdict %+v", v)
	}
}
