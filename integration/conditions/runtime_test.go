package conditions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// TestRuntimeEventNamesThePod runs the real agent with eBPF on, against a
// real API server, with a Pod whose container id is that of a kubepods-style
// cgroup; a shell run in that cgroup must come out as an Event on the Node
// naming the pod, RuntimeAnomalyDetected True, and a JSON log line with the
// pod's namespace and name.
func TestRuntimeEventNamesThePod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading the eBPF programs and making a cgroup need root")
	}
	const node, ns, podName = "ng-rt-node", "shop", "web-0"
	env := kubeenv.Start(t)
	bin := buildAgent(t)
	admin := env.Client(t, env.Admin)
	applyRBAC(t, admin)
	agentKubeconfig := env.Kubeconfig(t, agentUser, "system:serviceaccounts", "system:serviceaccounts:nodeguard")
	createNode(t, admin, node, nil)

	id := randomContainerID(t)
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager here to make the namespace's default service account.
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What the kubelet reports once containerd started the container.
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", Image: "registry.example/app:1", ImageID: "registry.example/app@sha256:" + strings.Repeat("ab", 32),
		ContainerID: "containerd://" + id, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}
	if _, err := admin.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	h := newHost(t)
	h.listen(t)
	a := startAgentWithBPF(t, bin, "--host-root", h.dir, "--interval", "2s", "--kubeconfig", agentKubeconfig,
		"--node-name", node, "--heartbeat-period", heartbeat.String(), "--runtime-anomaly-window", "10m")
	eventually(t, 60*time.Second, "pod informer synced", func() (bool, string) {
		return strings.Contains(a.log.String(), "pod informer synced"), "no sync log line"
	}, a)
	// The programs load in the background: wait for them, and in CI never
	// skip (a refused program is what this suite must catch).
	deadline := time.Now().Add(60 * time.Second)
	v := a.metric("nodeguard_bpf_rule_active", `rule="shell-in-container"`)
	for ; v != 1 && time.Now().Before(deadline) && !a.exited(); v = a.metric("nodeguard_bpf_rule_active", `rule="shell-in-container"`) {
		time.Sleep(100 * time.Millisecond)
	}
	if v != 1 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shell-in-container is not active on this kernel (nodeguard_bpf_rule_active %v)\n%s", v, a.log.String())
		}
		t.Skipf("shell-in-container is not active on this kernel (nodeguard_bpf_rule_active %v)", v)
	}
	eventually(t, 30*time.Second, "RuntimeAnomalyDetected present", func() (bool, string) {
		c, all := condition(t, admin, node, kube.RuntimeAnomalyDetected)
		return c != nil, describe(all)
	}, a)

	// A shell in the container: moved into its cgroup, then exec'ed.
	cg := containerCgroup(t, id)
	out, err := exec.Command("sh", "-c", fmt.Sprintf(`echo $$ > %s/cgroup.procs && exec /bin/sh -c "exit 0"`, cg)).CombinedOutput()
	if err != nil {
		t.Fatalf("shell in the container cgroup: %v\n%s", err, out)
	}

	eventually(t, 30*time.Second, "ShellInContainer Event on the Node naming the pod", func() (bool, string) {
		for _, e := range agentEvents(t, admin, node)["ShellInContainer"] {
			if e.Type == corev1.EventTypeWarning && e.Related != nil && e.Related.Kind == "Pod" &&
				e.Related.Namespace == ns && e.Related.Name == podName && strings.Contains(e.Note, "pod "+ns+"/"+podName) {
				return true, ""
			}
		}
		return false, describeEvents(agentEvents(t, admin, node))
	}, a)
	eventually(t, 30*time.Second, "RuntimeAnomalyDetected True", func() (bool, string) {
		c, all := condition(t, admin, node, kube.RuntimeAnomalyDetected)
		return c != nil && c.Status == corev1.ConditionTrue, describe(all)
	}, a)
	var line string
	for _, l := range strings.Split(a.log.String(), "\n") {
		if strings.Contains(l, `"rule":"shell-in-container"`) && strings.Contains(l, id) {
			line = l
		}
	}
	for _, want := range []string{`"namespace":"` + ns + `"`, `"pod":"` + podName + `"`, `"container":"app"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the event's log line lacks %s: %q", want, line)
		}
	}
}

func randomContainerID(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// containerCgroup makes the cgroup v2 hierarchy the kubelet's systemd driver
// and containerd make for a container (as agent/anomaly's kernel tests do)
// and removes it when the test ends.
func containerCgroup(t *testing.T, id string) string {
	t.Helper()
	base := ""
	for _, b := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(b, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			base = b
			break
		}
	}
	if base == "" {
		mnt := t.TempDir()
		if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
			t.Skipf("no cgroup2 hierarchy and cannot mount one: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
		base = mnt
	}
	pod := id[:16]
	dir := base
	var made []string
	for _, l := range []string{"kubepods.slice", "kubepods-besteffort.slice",
		"kubepods-besteffort-pod" + pod + ".slice", "cri-containerd-" + id + ".scope"} {
		dir = filepath.Join(dir, l)
		if err := os.Mkdir(dir, 0o755); err == nil {
			made = append(made, dir)
		} else if !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			// The shell has exited; the kernel may take a moment to release it.
			for try := 0; try < 50; try++ {
				if err := os.Remove(made[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return dir
}
