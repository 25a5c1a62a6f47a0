package clusterbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// The kubelet's own conditions, which the agent must leave alone.
var kubeletConditions = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

func (b *box) node() *corev1.Node {
	b.t.Helper()
	n, err := b.admin.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	must(b.t, err)
	return n
}

func conditions(n *corev1.Node) map[corev1.NodeConditionType]corev1.NodeCondition {
	out := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range n.Status.Conditions {
		out[c.Type] = c
	}
	return out
}

// waitCondition polls the node until condition typ has status want and
// returns when it was first seen so.
func (b *box) waitCondition(typ corev1.NodeConditionType, want corev1.ConditionStatus, timeout time.Duration) time.Time {
	b.t.Helper()
	var seen time.Time
	b.waitFor(b.partByName("kubelet"), fmt.Sprintf("%s=%s", typ, want), timeout, func() error {
		c, ok := conditions(b.node())[typ]
		if !ok || c.Status != want {
			return fmt.Errorf("%s is %q (%s: %s)", typ, c.Status, c.Reason, c.Message)
		}
		seen = time.Now()
		return nil
	})
	return seen
}

// listening reports whether a TCP socket of the box listens on port (what
// the host's /proc/PID/net/tcp says for the box's network namespace).
func (b *box) listening(port int) bool {
	v4, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", b.boxPID))
	v6, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp6", b.boxPID))
	for line := range strings.Lines(string(v4) + string(v6)) {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) && f[3] == "0A" {
			return true
		}
	}
	return false
}

func (b *box) createPod(pod *corev1.Pod) *corev1.Pod {
	b.t.Helper()
	_, err := b.admin.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	must(b.t, err)
	var out *corev1.Pod
	b.waitFor(b.partByName("kubelet"), "pod "+pod.Name+" Running", 60*time.Second, func() error {
		p, err := b.admin.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("%s %s", p.Status.Phase, containerState(p))
		}
		out = p
		return nil
	})
	return out
}

func toolsPod(name string, hostNetwork bool, command ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			HostNetwork:                   hostNetwork,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "main", Image: toolsImage, ImagePullPolicy: corev1.PullNever, Command: command,
			}},
		},
	}
}

// shellEvent waits for the agent's Warning Event on the Node about a shell
// in namespace/pod/container whose note names process (its comm): the test
// pod's own busybox counts as a shell too, so the exec'd one is told apart
// by its name.
func (b *box) shellEvent(pod, container, process string, timeout time.Duration) *eventsv1.Event {
	b.t.Helper()
	var found *eventsv1.Event
	b.waitFor(nil, "a Warning Event on the Node naming default/"+pod+"/"+container, timeout, func() error {
		evs, err := b.admin.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var seen []string
		for i := range evs.Items {
			e := &evs.Items[i]
			if e.ReportingController == "kubelet" || e.Regarding.Kind != "Node" {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Note)
			if e.Type == corev1.EventTypeWarning && e.Regarding.Name == nodeName && e.Related != nil &&
				e.Related.Kind == "Pod" && e.Related.Namespace == "default" && e.Related.Name == pod &&
				strings.Contains(e.Note, "container "+container) && strings.Contains(e.Note, "process "+process+" (") {
				found = e
				return nil
			}
		}
		return fmt.Errorf("node events so far: %q", seen)
	})
	return found
}

// agentClient is a client with the agent's own token, read from its
// container: pod-bound, so it carries the node's name.
func (b *box) agentClient(pod *corev1.Pod) kubernetes.Interface {
	t := b.t
	pid := b.containerPID(pod, "nodeguard")
	token, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/var/run/secrets/kubernetes.io/serviceaccount/token", pid))
	must(t, err)
	return b.tokenClient(string(token))
}

func (b *box) tokenClient(token string) kubernetes.Interface {
	cfg := &rest.Config{
		Host: b.env.Host, BearerToken: strings.TrimSpace(token),
		TLSClientConfig: rest.TLSClientConfig{CAFile: b.env.Path("ca.crt")},
		Timeout:         10 * time.Second,
	}
	c, err := kubernetes.NewForConfig(cfg)
	must(b.t, err)
	return c
}

// checkLeastPrivilege shows the admission policy at work on the agent's
// token: its own condition types on its own Node pass (dry run); another
// Node's status, the kubelet's conditions, and Events about another Node
// are refused.
func (b *box) checkLeastPrivilege(agent kubernetes.Interface) {
	t := b.t
	ctx := context.Background()
	_, err := b.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "other-node"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	patch := func(node, typ, status string) error {
		body := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":%q,"reason":"ClusterBoxTest","message":"set by the e2e","lastHeartbeatTime":%q,"lastTransitionTime":%q}]}}`,
			typ, status, time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		_, err := agent.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(body),
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "status")
		return err
	}
	if err := patch(nodeName, "UnexpectedOpenPorts", "False"); err != nil {
		t.Errorf("6. the agent's token may not patch its own condition on its own Node: %v", err)
	}
	for _, c := range []struct{ what, node, typ string }{
		{"another Node's status", "other-node", "UnexpectedOpenPorts"},
		{"the kubelet's Ready condition", nodeName, "Ready"},
		{"a condition type not the project's", nodeName, "SomethingElse"},
	} {
		err := patch(c.node, c.typ, "False")
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "nodeguard-own-node-only") {
			t.Errorf("6. patching %s with the agent's token: %v, want Forbidden by nodeguard-own-node-only", c.what, err)
		} else {
			t.Logf("6. %s refused: %v", c.what, err)
		}
	}
	event := func(node string) error {
		_, err := agent.EventsV1().Events("default").Create(ctx, &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "clusterbox-test-"},
			EventTime:  metav1.NowMicro(), ReportingController: "nodeguard", ReportingInstance: "nodeguard-" + nodeName,
			Action: "Test", Reason: "ClusterBoxTest", Type: corev1.EventTypeNormal, Note: "e2e",
			Regarding: corev1.ObjectReference{Kind: "Node", Name: node, APIVersion: "v1"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	if err := event(nodeName); err != nil {
		t.Errorf("6. the agent's token may not write an Event about its own Node: %v", err)
	}
	if err := event("other-node"); !apierrors.IsForbidden(err) {
		t.Errorf("6. an Event about another Node with the agent's token: %v, want Forbidden", err)
	} else {
		t.Logf("6. Event about another Node refused: %v", err)
	}

	// Reports: its own passes (dry run); another node's, or its own name
	// scoped to or owned by another node, are refused.
	report := func(name, scope, owner string) error {
		body := fmt.Sprintf(`{"apiVersion":"openreports.io/v1alpha1","kind":"ClusterReport","metadata":{"name":%q,"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":%q,"uid":"00000000-0000-0000-0000-000000000000"}]},"source":"nodeguard","scope":{"apiVersion":"v1","kind":"Node","name":%q}}`,
			name, owner, scope)
		return agent.CoreV1().RESTClient().Patch(types.ApplyPatchType).AbsPath("/apis/openreports.io/v1alpha1/clusterreports/"+name).
			Param("fieldManager", "nodeguard").Param("dryRun", "All").Param("force", "true").Body([]byte(body)).Do(ctx).Error()
	}
	if err := report("nodeguard-"+nodeName, nodeName, nodeName); err != nil {
		t.Errorf("6. the agent's token may not write its own node's ClusterReport: %v", err)
	}
	for _, c := range []struct{ what, name, scope, owner string }{
		{"another node's ClusterReport", "nodeguard-other-node", "other-node", "other-node"},
		{"its own report scoped to another node", "nodeguard-" + nodeName, "other-node", nodeName},
		{"its own report owned by another node", "nodeguard-" + nodeName, nodeName, "other-node"},
		{"a report under another name", "nodeguard-x-" + nodeName, nodeName, nodeName},
	} {
		err := report(c.name, c.scope, c.owner)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "nodeguard-own-node-only") {
			t.Errorf("6. %s with the agent's token: %v, want Forbidden by nodeguard-own-node-only", c.what, err)
		} else {
			t.Logf("6. %s refused: %v", c.what, err)
		}
	}
}

// checkClusterReport waits for the real node's ClusterReport to name port
// as a failing listener, and checks it is the node's: scoped to and owned by
// the Node.
func (b *box) checkClusterReport(port string) {
	t := b.t
	ctx := context.Background()
	var rep openreportsv1alpha1.ClusterReport
	b.waitFor(pod2part(b), "the node's ClusterReport naming port "+port, 60*time.Second, func() error {
		raw, err := b.admin.CoreV1().RESTClient().Get().AbsPath("/apis/openreports.io/v1alpha1/clusterreports/nodeguard-" + nodeName).DoRaw(ctx)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &rep); err != nil {
			return err
		}
		for _, r := range rep.Results {
			if r.Result == "fail" && r.Rule == "ports.listener" && strings.Contains(r.Description, ":"+port) {
				return nil
			}
		}
		return errString(fmt.Sprintf("%d results, none failing on :%s", len(rep.Results), port))
	})
	n := b.node()
	if rep.Scope == nil || rep.Scope.Name != nodeName || len(rep.OwnerReferences) != 1 || rep.OwnerReferences[0].UID != n.UID {
		t.Errorf("2. ClusterReport scope %+v, owners %+v: want the Node %s (%s)", rep.Scope, rep.OwnerReferences, nodeName, n.UID)
	}
	t.Logf("2. ClusterReport %s: pass %d fail %d error %d skip %d", rep.Name,
		rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Error, rep.Summary.Skip)
}

// checksums hashes every regular file below roots (symlinks by target), so
// a write anywhere below them shows.
func checksums(roots ...string) map[string]string {
	out := map[string]string{}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				out[p] = "-> " + target
			case d.Type().IsRegular():
				f, err := os.Open(p)
				if err != nil {
					return nil
				}
				h := sha256.New()
				_, _ = io.Copy(h, f)
				f.Close()
				info, _ := d.Info()
				out[p] = fmt.Sprintf("%s %v", hex.EncodeToString(h.Sum(nil)), info.Mode())
			}
			return nil
		})
	}
	return out
}

func diffSums(before, after map[string]string) []string {
	var out []string
	for p, s := range before {
		if after[p] != s {
			out = append(out, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, p+" (new)")
		}
	}
	return out
}
