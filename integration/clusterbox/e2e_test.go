package clusterbox

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// The kubelet's read-only port: forbidden on every node by the built-in
// ports policy.
const forbiddenPort = 10255

// TestClusterBox is `make e2e`: the manifests on a real kubelet. It runs
// only when NODEGUARD_E2E=1 (make e2e sets it): it needs root, takes the
// machine's cgroups and several minutes.
func TestClusterBox(t *testing.T) {
	if os.Getenv("NODEGUARD_E2E") != "1" {
		t.Skip("the cluster-in-a-box e2e runs with make e2e (NODEGUARD_E2E=1)")
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	start := time.Now()
	b := startBox(t)
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	ctx := context.Background()
	// What the pod mounts from the host: nothing below may change.
	sumRoots := []string{"/etc", "/usr/lib/cni", "/var/lib/dpkg/status"}
	sumsBefore := checksums(sumRoots...)
	kubeletBefore := conditions(b.node())

	// 1. Apply.
	applied := time.Now()
	b.apply()
	pod := b.agentPod(60*time.Second, "")
	t.Logf("1. agent pod %s Running and Ready %s after kubectl apply -k", pod.Name, time.Since(applied).Round(time.Millisecond))
	b.checkSecurityContext(pod)

	// 4a. The metrics endpoint as the ServiceMonitor's scraper sees it.
	scraper := b.scraperToken()
	metricsPort := 9809
	for _, c := range []struct {
		who, token string
		want       int
	}{{"the scraper's token (bound to nodeguard-metrics-reader)", scraper, http.StatusOK}, {"no token", "", http.StatusUnauthorized}, {"an unbound token", b.unboundToken(), http.StatusForbidden}} {
		got, err := metricsStatus(pod.Status.PodIP, metricsPort, c.token)
		if err != nil || got != c.want {
			t.Errorf("4. GET /metrics with %s: %d %v, want %d", c.who, got, err, c.want)
		} else {
			t.Logf("4. GET /metrics with %s: %d", c.who, got)
		}
	}
	mon := b.startMonitoring(scraper)
	b.targetUp(mon)
	t.Log("4. Prometheus scrapes the agent with the ServiceMonitor's configuration: target up")

	// 2. Conditions from the pod, the kubelet's untouched.
	owned := []corev1.NodeConditionType{"UnexpectedOpenPorts", "InsecureRemoteAccess", "InsecureKubeletConfig", "KernelHardeningViolation", "RuntimeAnomalyDetected"}
	b.waitFor(pod2part(b), "the project's conditions on the Node", 60*time.Second, func() error {
		have := conditions(b.node())
		for _, typ := range owned {
			if _, ok := have[typ]; !ok {
				return errString("no " + string(typ))
			}
		}
		return nil
	})
	after := conditions(b.node())
	for _, typ := range kubeletConditions {
		was, now := kubeletBefore[typ], after[typ]
		if now.Status != was.Status || now.Reason != was.Reason || !now.LastTransitionTime.Equal(&was.LastTransitionTime) {
			t.Errorf("2. the kubelet's %s changed: %+v -> %+v", typ, was, now)
		}
	}
	for _, c := range b.node().Status.Conditions {
		t.Logf("2. %s=%s %s", c.Type, c.Status, c.Reason)
	}
	if c := after["UnexpectedOpenPorts"]; c.Status != corev1.ConditionFalse {
		t.Fatalf("2. UnexpectedOpenPorts is %s before the test opened a port: %s", c.Status, c.Message)
	}
	b.createPod(toolsPod("forbidden-port", true, "nc", "-l", "-p", strconv.Itoa(forbiddenPort)))
	var opened time.Time
	b.waitFor(nil, "the forbidden port listening in the box", 30*time.Second, func() error {
		if !b.listening(forbiddenPort) {
			return errString("not yet")
		}
		opened = time.Now()
		return nil
	})
	seen := b.waitCondition("UnexpectedOpenPorts", corev1.ConditionTrue, 30*time.Second)
	if d := seen.Sub(opened); d > 5*time.Second {
		t.Errorf("2. UnexpectedOpenPorts True %s after the port opened, want <= 5s", d)
	} else {
		t.Logf("2. UnexpectedOpenPorts True %s after the port opened", d.Round(time.Millisecond))
	}

	// 2c. The same finding in the node's OpenReports ClusterReport.
	b.checkClusterReport(strconv.Itoa(forbiddenPort))

	// 4b. The page.
	alert := b.awaitAlert(mon, strconv.Itoa(forbiddenPort), 2*time.Minute)
	t.Logf("4. page at the webhook %s after the port opened: %v", time.Since(opened).Round(time.Second), alert["labels"])

	// 3. Attribution from a real pod.
	b.createPod(toolsPod("shell-target", false, "sleep", "3600"))
	// The event must be about the exec'd sh, not about the pod's own sleep
	// (busybox too).
	if out, err := b.kubectl("exec", "-n", "default", "shell-target", "-c", "main", "--", "sh", "-c", "echo hello"); err != nil {
		t.Fatalf("3. kubectl exec: %v\n%s\nkubelet log tail:\n%s", err, out, b.partLog("kubelet"))
	}
	ev := b.shellEvent("shell-target", "main", "sh", 30*time.Second)
	t.Logf("3. Warning Event %s on Node %s, related %s/%s: %s", ev.Reason, ev.Regarding.Name, ev.Related.Namespace, ev.Related.Name, ev.Note)

	// 6. Least privilege per node, with the agent's own token.
	b.checkLeastPrivilege(b.agentClient(pod))

	// 2b. The port closes: False again. The agent rescans every 5 s for a
	// listener the runtime rule reported until a scan finds it closed.
	must(t, b.admin.CoreV1().Pods("default").Delete(ctx, "forbidden-port", metav1.DeleteOptions{}))
	b.waitFor(nil, "the forbidden port closed", 60*time.Second, func() error {
		if b.listening(forbiddenPort) {
			return errString("still listening")
		}
		return nil
	})
	closed := time.Now()
	b.waitCondition("UnexpectedOpenPorts", corev1.ConditionFalse, 30*time.Second)
	t.Logf("2. UnexpectedOpenPorts False %s after the port closed", time.Since(closed).Round(time.Second))

	// 5. Restart: recreated, lastTransitionTime of unchanged conditions kept,
	// nothing written to the host.
	before := conditions(b.node())
	must(t, b.admin.CoreV1().Pods(agentNS).Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	deleted := time.Now()
	pod2 := b.agentPod(90*time.Second, pod.Name)
	t.Logf("5. pod %s recreated and Ready %s after deleting %s", pod2.Name, time.Since(deleted).Round(time.Millisecond), pod.Name)
	// Wait for the new agent's first patch (a newer heartbeat).
	b.waitFor(nil, "the new agent's heartbeat", 60*time.Second, func() error {
		c := conditions(b.node())["InsecureKubeletConfig"]
		if !c.LastHeartbeatTime.After(before["InsecureKubeletConfig"].LastHeartbeatTime.Time) {
			return errString("no new heartbeat")
		}
		return nil
	})
	now := conditions(b.node())
	kept := 0
	for _, typ := range owned {
		was, is := before[typ], now[typ]
		if was.Status == is.Status && was.Reason == is.Reason {
			if !is.LastTransitionTime.Equal(&was.LastTransitionTime) {
				t.Errorf("5. %s unchanged (%s) but lastTransitionTime %s -> %s", typ, is.Status, was.LastTransitionTime, is.LastTransitionTime)
			}
			kept++
		}
	}
	if kept == 0 {
		t.Errorf("5. no condition stayed unchanged across the restart")
	}
	t.Logf("5. lastTransitionTime kept for %d unchanged conditions", kept)
	if d := diffSums(sumsBefore, checksums(sumRoots...)); len(d) > 0 {
		t.Errorf("5. host files changed while the agent ran: %v", d)
	} else {
		t.Logf("5. %d host files under %v unchanged", len(sumsBefore), sumRoots)
	}
	t.Logf("e2e done in %s", time.Since(start).Round(time.Second))
}

type errString string

func (e errString) Error() string { return string(e) }

func pod2part(b *box) *part { return b.partByName("kubelet") }
