// Package conditions runs the real `nodeguard run` binary against a real
// kube-apiserver (integration/kubeenv) with a kubeconfig bound to exactly the
// ClusterRole of manifests/rbac.yaml, and checks what users see on the Node.
package conditions

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/integration/agentproc"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

const (
	nodeName  = "ng-node"
	otherNode = "ng-other"
	// agentUser is the user name the API server gives the DaemonSet's service
	// account; a client certificate with this CN is matched by the
	// ServiceAccount subject of the manifest's ClusterRoleBinding.
	agentUser = "system:serviceaccount:nodeguard:nodeguard"
	heartbeat = 3 * time.Second
)

// applyRBAC creates the ClusterRole and ClusterRoleBinding of manifests/rbac.yaml as they are.
func applyRBAC(t testing.TB, admin kubernetes.Interface) {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(self), "..", "..", "manifests", "rbac.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	ctx := context.Background()
	var roles, bindings int
	for {
		var meta metav1.TypeMeta
		var b json.RawMessage
		if err := dec.Decode(&b); err != nil {
			if err != io.EOF {
				t.Fatalf("%s: %v", path, err)
			}
			break
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			roles++
		case "ClusterRoleBinding":
			var r rbacv1.ClusterRoleBinding
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			bindings++
		default:
			t.Fatalf("%s: unexpected kind %q", path, meta.Kind)
		}
	}
	if roles < 1 || bindings < 1 {
		t.Fatalf("%s: %d ClusterRoles and %d bindings, want at least one of each", path, roles, bindings)
	}
}

func createNode(t testing.TB, admin kubernetes.Interface, name string, labels map[string]string, conds ...corev1.NodeCondition) {
	t.Helper()
	ctx := context.Background()
	n, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = conds
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func condition(t testing.TB, c kubernetes.Interface, node string, typ corev1.NodeConditionType) (*corev1.NodeCondition, []corev1.NodeCondition) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return nil, nil
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i], n.Status.Conditions
		}
	}
	return nil, n.Status.Conditions
}

// agentEvents lists the Events nodeguard wrote about node, by reason.
func agentEvents(t testing.TB, c kubernetes.Interface, node string) map[string][]eventsv1.Event {
	t.Helper()
	list, err := c.EventsV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]eventsv1.Event{}
	for _, e := range list.Items {
		if e.ReportingController == kube.ReportingController && e.Regarding.Kind == "Node" && e.Regarding.Name == node {
			out[e.Reason] = append(out[e.Reason], e)
		}
	}
	return out
}

func TestNodeConditionsOnARealAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	bin := buildAgent(t)
	admin := env.Client(t, env.Admin)
	applyRBAC(t, admin)
	agentKubeconfig := env.Kubeconfig(t, agentUser, "system:serviceaccounts", "system:serviceaccounts:nodeguard")

	// The kubelet's condition, which the agent must leave alone, and stale
	// conditions of the agent's own types from "an older run".
	long := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status", LastHeartbeatTime: long, LastTransitionTime: long}
	var seeded []corev1.NodeCondition
	seeded = append(seeded, ready)
	for _, ct := range kube.ConditionTypes {
		if ct.Type != kube.UnexpectedOpenPorts {
			seeded = append(seeded, corev1.NodeCondition{Type: ct.Type, Status: corev1.ConditionTrue, Reason: "Stale",
				Message: "left by an older run", LastHeartbeatTime: long, LastTransitionTime: long})
		}
	}
	// The node's label says control-plane; the fixture host has no control
	// plane manifest or process, so host detection would say worker and flag 6443.
	createNode(t, admin, nodeName, map[string]string{"node-role.kubernetes.io/control-plane": ""}, seeded...)
	createNode(t, admin, otherNode, nil, ready)

	h := newHost(t)
	h.listen(t, 6443, 4444)
	args := []string{"--host-root", h.dir, "--interval", "1s", "--kubeconfig", agentKubeconfig,
		"--node-name", nodeName, "--heartbeat-period", heartbeat.String()}

	// Agents outlive the subtest that starts them. The first is started as
	// the DaemonSet does, `nodeguard run`, which executes nodeguard-agent.
	top := t
	a := startAgent(top, lightBinary(bin), args...)
	eventually(t, 10*time.Second, "nodeguard executed nodeguard-agent in its process", func() (bool, string) {
		exe, err := os.Readlink("/proc/" + strconv.Itoa(a.cmd.Process.Pid) + "/exe")
		return err == nil && exe == bin, "runs " + exe
	})
	var firstTransition metav1.Time
	t.Run("conditions", func(t *testing.T) {
		eventually(t, 60*time.Second, "UnexpectedOpenPorts True", func() (bool, string) {
			c, all := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
			return c != nil && c.Status == corev1.ConditionTrue, describe(all)
		}, a)
		c, all := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
		if c.Reason != "UnexpectedPortsOpen" || !strings.Contains(c.Message, "0.0.0.0:4444") {
			t.Errorf("condition %+v does not name port 4444", c)
		}
		if strings.Contains(c.Message, ":6443") {
			t.Errorf("6443 flagged: the role was not taken from the node label: %q", c.Message)
		}
		if len(c.Message) > kube.MaxMessageLen {
			t.Errorf("message is %d bytes", len(c.Message))
		}
		firstTransition = c.LastTransitionTime

		// The kubelet's condition is untouched.
		for _, x := range all {
			if x.Type == corev1.NodeReady && (!x.LastHeartbeatTime.Equal(&long) || x.Reason != "KubeletReady") {
				t.Errorf("the kubelet's Ready condition changed: %+v", x)
			}
		}
		// A condition exists exactly when one of its probes ran; stale ones are gone.
		ran := a.probesRan()
		eventually(t, 20*time.Second, "stale conditions replaced or removed", func() (bool, string) {
			_, all := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
			for _, ct := range kube.ConditionTypes {
				var got *corev1.NodeCondition
				for i := range all {
					if all[i].Type == ct.Type {
						got = &all[i]
					}
				}
				wanted := false
				for _, p := range ct.Probes() {
					wanted = wanted || ran[p]
				}
				switch {
				case got != nil && got.Reason == "Stale":
					return false, string(ct.Type) + " still stale; " + describe(all)
				case ct.Type == kube.RuntimeAnomalyDetected:
					// The agents run with --no-bpf: no detector, no verdict.
					if got != nil && agentproc.SupportsFlag(t, bin, "run", "no-bpf") {
						return false, "RuntimeAnomalyDetected present without runtime detection; " + describe(all)
					}
				case wanted != (got != nil):
					return false, string(ct.Type) + " present=" + boolStr(got != nil) + " but its probes ran=" + boolStr(wanted) + "; " + describe(all)
				}
			}
			return true, ""
		}, a)
		if _, ok := ran["kmod"]; !ok && !ran["sysctl"] {
			t.Logf("KernelHardeningViolation removed: neither kmod nor sysctl is in this build")
		}

		eventually(t, 30*time.Second, "Warning Event UnexpectedPortsOpen", func() (bool, string) {
			evs := agentEvents(t, admin, nodeName)["UnexpectedPortsOpen"]
			return len(evs) == 1 && evs[0].Type == corev1.EventTypeWarning &&
				strings.Contains(evs[0].Note, "4444") && evs[0].Regarding.Kind == "Node", describeEvents(agentEvents(t, admin, nodeName))
		}, a)

		// Heartbeats advance; lastTransitionTime stays.
		before := c.LastHeartbeatTime
		eventually(t, 3*heartbeat, "heartbeat refreshed", func() (bool, string) {
			c, _ := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
			return c != nil && c.LastHeartbeatTime.After(before.Time), "heartbeat still " + before.String()
		}, a)
		c, _ = condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
		if !c.LastTransitionTime.Equal(&firstTransition) {
			t.Errorf("lastTransitionTime moved from %s to %s on a heartbeat", firstTransition, c.LastTransitionTime)
		}
		if code, body, _ := a.get("/readyz"); code != http.StatusOK {
			t.Errorf("/readyz %d: %s", code, body)
		}
	})

	t.Run("restart keeps lastTransitionTime", func(t *testing.T) {
		a.stop()
		stopped := time.Now()
		eventsBefore := agentEvents(t, admin, nodeName)
		a = startAgent(top, bin, args...)
		eventually(t, 30*time.Second, "heartbeat from the restarted agent", func() (bool, string) {
			c, _ := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
			return c != nil && c.LastHeartbeatTime.Time.After(stopped.Add(time.Second)), "no heartbeat since the restart"
		}, a)
		c, _ := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
		if c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(&firstTransition) {
			t.Errorf("after a restart: %+v, want True since %s", c, firstTransition)
		}
		time.Sleep(2 * time.Second) // events are written asynchronously
		if after := agentEvents(t, admin, nodeName); len(after["UnexpectedPortsOpen"]) != len(eventsBefore["UnexpectedPortsOpen"]) {
			t.Errorf("the restart made new Events: %s", describeEvents(after))
		}
	})

	t.Run("API server outage", func(t *testing.T) {
		env.StopAPIServer()
		defer env.StartAPIServer(t) // for the next subtests, should this one fail
		h.listen(t, 6443)           // the problem is resolved while the API is down
		scans := a.metric("nodeguard_scans_total")
		eventually(t, 30*time.Second, "degraded /readyz", func() (bool, string) {
			code, body, _ := a.get("/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "kube:") &&
				a.metric("nodeguard_kube_sync_errors_total", `reason="Unreachable"`) > 0, body
		}, a)
		eventually(t, 30*time.Second, "scans go on", func() (bool, string) {
			return a.metric("nodeguard_scans_total") > scans+2, "scans_total stuck"
		}, a)

		env.StartAPIServer(t)
		eventually(t, 90*time.Second, "resynced after the outage", func() (bool, string) {
			c, all := condition(t, admin, nodeName, kube.UnexpectedOpenPorts)
			return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "NoUnexpectedPorts", describe(all)
		}, a)
		eventually(t, 30*time.Second, "Normal Event NoUnexpectedPorts", func() (bool, string) {
			evs := agentEvents(t, admin, nodeName)["NoUnexpectedPorts"]
			return len(evs) == 1 && evs[0].Type == corev1.EventTypeNormal, describeEvents(agentEvents(t, admin, nodeName))
		}, a)
		eventually(t, 30*time.Second, "/readyz ok again", func() (bool, string) {
			code, body, _ := a.get("/readyz")
			return code == http.StatusOK, body
		}, a)
		if !strings.Contains(a.log.String(), "node conditions synced again") {
			t.Errorf("no recovery log line:\n%s", a.log.String())
		}
	})

	t.Run("401 and 403 do not crash the agent", func(t *testing.T) {
		for _, c := range []struct {
			name, kubeconfig, reason, logLine string
		}{
			{"401", env.UntrustedKubeconfig(t, agentUser), kube.ReasonUnauthorized, "401 Unauthorized"},
			{"403", env.Kubeconfig(t, "nobody"), kube.ReasonForbidden, "403 Forbidden"},
		} {
			t.Run(c.name, func(t *testing.T) {
				h2 := newHost(t)
				h2.listen(t, 4444)
				b := startAgent(t, bin, "--host-root", h2.dir, "--interval", "1s", "--kubeconfig", c.kubeconfig,
					"--node-name", otherNode, "--heartbeat-period", heartbeat.String())
				// Several failed attempts (backoff 1s, 2s, 4s...), one log line.
				eventually(t, 30*time.Second, "repeated "+c.reason+" errors", func() (bool, string) {
					return b.metric("nodeguard_kube_sync_errors_total", `reason="`+c.reason+`"`) >= 3, agentLines(b.log.String())
				}, b)
				if n := strings.Count(b.log.String(), c.logLine); n != 1 {
					t.Errorf("%d log lines mention %q, want exactly 1:\n%s", n, c.logLine, b.log.String())
				}
				code, body, _ := b.get("/readyz")
				if code != http.StatusServiceUnavailable || !strings.Contains(body, c.reason) {
					t.Errorf("/readyz %d %q, want 503 naming %s", code, body, c.reason)
				}
				if v := b.metric("nodeguard_scans_total"); v < 2 {
					t.Errorf("scans stopped: nodeguard_scans_total %v", v)
				}
				if cnd, _ := condition(t, admin, otherNode, kube.UnexpectedOpenPorts); cnd != nil {
					t.Errorf("a rejected agent wrote a condition: %+v", cnd)
				}
			})
		}
	})

	t.Run("the role cannot change a node's spec", func(t *testing.T) {
		ag := env.Client(t, agentKubeconfig)
		ctx := context.Background()
		for _, node := range []string{otherNode, nodeName} {
			_, err := ag.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType,
				[]byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("patching %s's spec: %v, want Forbidden", node, err)
			}
			_, err = ag.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
				[]byte(`{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`), metav1.PatchOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("labelling %s: %v, want Forbidden", node, err)
			}
			if err := ag.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("deleting %s: %v, want Forbidden", node, err)
			}
		}
		if _, err := ag.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing nodes: %v, want Forbidden", err)
		}
		// Pods: list and watch (the informer of the node's pods), nothing else.
		if _, err := ag.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName}); err != nil {
			t.Errorf("listing the node's pods: %v", err)
		}
		if _, err := ag.CoreV1().Pods("default").Get(ctx, "any", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("getting a pod: %v, want Forbidden", err)
		}
		if err := ag.CoreV1().Pods("default").Delete(ctx, "any", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("deleting a pod: %v, want Forbidden", err)
		}
		if _, err := ag.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing secrets: %v, want Forbidden", err)
		}
		n, err := admin.CoreV1().Nodes().Get(ctx, otherNode, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Spec.Unschedulable || len(n.Labels) != 0 {
			t.Errorf("the other node changed: %+v", n)
		}
	})
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func describe(cs []corev1.NodeCondition) string {
	var b strings.Builder
	b.WriteString("conditions:")
	for _, c := range cs {
		b.WriteString(" " + string(c.Type) + "=" + string(c.Status) + "(" + c.Reason + ")")
	}
	return b.String()
}

func describeEvents(m map[string][]eventsv1.Event) string {
	var b strings.Builder
	b.WriteString("events:")
	for r, evs := range m {
		for _, e := range evs {
			b.WriteString(" " + r + "/" + e.Type + ": " + e.Note + ";")
		}
	}
	return b.String()
}
