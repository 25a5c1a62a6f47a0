package clusterbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const agentNS = "nodeguard"

// apply installs the prometheus-operator CRDs the base refers to and
// OpenReports' (manifests/openreports), then `kubectl apply -k` an overlay of
// manifests/ that changes only the image.
func (b *box) apply() {
	t := b.t
	b.mustKubectl("apply", "--server-side", "-f", filepath.Join(b.repo, "manifests", "testdata", "crds"))
	b.mustKubectl("apply", "--server-side", "-k", filepath.Join(b.repo, "manifests", "openreports"))
	b.mustKubectl("wait", "--for", "condition=established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
		"crd/clusterreports.openreports.io")
	overlay := filepath.Join(b.dir, "overlay")
	must(t, os.MkdirAll(overlay, 0o755))
	base, err := filepath.Rel(overlay, filepath.Join(b.repo, "manifests"))
	must(t, err)
	name, tag, _ := strings.Cut(agentImage, ":")
	must(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
images:
  - name: nodeguard/nodeguard
    newName: %s
    newTag: %s
`, base, name, tag)), 0o644))
	b.mustKubectl("apply", "-k", overlay)
}

// agentPod waits for the agent's pod on the node to be Running and Ready and
// returns it.
func (b *box) agentPod(timeout time.Duration, not string) *corev1.Pod {
	b.t.Helper()
	var pod *corev1.Pod
	b.waitFor(b.partByName("kubelet"), "the agent pod Running and Ready", timeout, func() error {
		pods, err := b.admin.CoreV1().Pods(agentNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=nodeguard"})
		if err != nil {
			return err
		}
		var states []string
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Name == not || p.DeletionTimestamp != nil {
				continue
			}
			if p.Status.Phase == corev1.PodRunning && podReady(p) {
				pod = p
				return nil
			}
			states = append(states, fmt.Sprintf("%s %s %s", p.Name, p.Status.Phase, containerState(p)))
		}
		return fmt.Errorf("agent pods: %v", states)
	})
	return pod
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerState(p *corev1.Pod) string {
	var out []string
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			out = append(out, s.Name+": waiting "+s.State.Waiting.Reason+" "+s.State.Waiting.Message)
		case s.State.Terminated != nil:
			out = append(out, fmt.Sprintf("%s: terminated %s exit %d", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode))
		default:
			out = append(out, s.Name+": running")
		}
	}
	return strings.Join(out, "; ")
}

func (b *box) partByName(name string) *part {
	for _, p := range b.parts {
		if p.name == name {
			return p
		}
	}
	return nil
}

// containerPID is the host PID of a pod's container (containerd's task PID
// is in the box's PID namespace; NSpid maps it back).
func (b *box) containerPID(pod *corev1.Pod, container string) int {
	t := b.t
	var id string
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container {
			id = strings.TrimPrefix(s.ContainerID, "containerd://")
		}
	}
	if id == "" {
		t.Fatalf("pod %s has no container %s", pod.Name, container)
	}
	out := b.run(true, "ctr", "--address", b.ctrSock, "-n", "k8s.io", "tasks", "ls")
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			boxPID, err := strconv.Atoi(f[1])
			must(t, err)
			return b.hostPID(boxPID)
		}
	}
	t.Fatalf("no task for container %s:\n%s", id, out)
	return 0
}

// hostPID maps a PID of the box to the host's.
func (b *box) hostPID(boxPID int) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(st)) {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "NSpid:" && f[2] == strconv.Itoa(boxPID) {
				if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns == b.boxPIDNS() {
					return pid
				}
			}
		}
	}
	b.t.Fatalf("no host process for box PID %d", boxPID)
	return 0
}

func (b *box) boxPIDNS() string {
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", b.boxPID))
	return ns
}

// capBits are the capability numbers of linux/capability.h.
var capBits = map[string]uint{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
	"SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13,
	"SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "MKNOD": 27, "AUDIT_WRITE": 29,
	"SETFCAP": 31, "PERFMON": 38, "BPF": 39,
}

// checkSecurityContext compares what the kernel says about the agent's
// process (its own /proc/self/status and mount table, read through its
// /proc/PID) with the securityContext the DaemonSet declares.
func (b *box) checkSecurityContext(pod *corev1.Pod) {
	t := b.t
	var ctr *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "nodeguard" {
			ctr = &pod.Spec.Containers[i]
		}
	}
	sc := ctr.SecurityContext
	if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Fatalf("the DaemonSet no longer drops ALL capabilities: %+v", sc)
	}
	var want uint64
	for _, c := range sc.Capabilities.Add {
		bit, ok := capBits[string(c)]
		if !ok {
			t.Fatalf("capability %s: add it to capBits", c)
		}
		want |= 1 << bit
	}
	pid := b.containerPID(pod, "nodeguard")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	fields := map[string]string{}
	for line := range strings.Lines(string(status)) {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.TrimSpace(v)
	}
	hexCaps := fmt.Sprintf("%016x", want)
	uid := strconv.FormatInt(*sc.RunAsUser, 10)
	for k, v := range map[string]string{
		"CapEff": hexCaps, "CapPrm": hexCaps, "CapBnd": hexCaps, "CapInh": "0000000000000000", "CapAmb": "0000000000000000",
		"Uid": strings.Repeat(uid+"\t", 3) + uid, "Gid": "0\t0\t0\t0",
		"NoNewPrivs": map[bool]string{true: "0", false: "1"}[*sc.AllowPrivilegeEscalation],
		// 2: a seccomp filter, the runtime's default profile.
		"Seccomp": "2",
	} {
		if fields[k] != v {
			t.Errorf("agent process %s = %q, want %q (securityContext %+v)", k, fields[k], v, sc)
		}
	}
	t.Logf("agent process (host PID %d): CapEff %s, NoNewPrivs %s, Seccomp %s, Uid %s", pid, fields["CapEff"], fields["NoNewPrivs"], fields["Seccomp"], fields["Uid"])

	// The container's task is the entrypoint, the light /nodeguard, which
	// executed /nodeguard-agent for run in the same process.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	must(t, err)
	argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	must(t, err)
	if exe != "/nodeguard-agent" || !strings.HasPrefix(string(argv), "nodeguard-agent\x00run\x00") {
		t.Errorf("the container's task runs %s as %q, want /nodeguard-agent as nodeguard-agent run ...", exe, argv)
	}

	// Its mount table: / and /host read-only.
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	must(t, err)
	ro := map[string]bool{}
	for line := range strings.Lines(string(mi)) {
		f := strings.Fields(line)
		if len(f) > 5 {
			ro[f[4]] = slices.Contains(strings.Split(f[5], ","), "ro")
		}
	}
	wantRO := map[string]bool{"/": *sc.ReadOnlyRootFilesystem}
	for _, m := range ctr.VolumeMounts {
		wantRO[m.MountPath] = m.ReadOnly
	}
	for path, w := range wantRO {
		got, ok := ro[path]
		if !ok || got != w {
			t.Errorf("agent mount %s: read-only %v (mounted %v), want %v", path, got, ok, w)
		}
	}
	// And a write through its root is refused by the kernel.
	for _, p := range []string{"probe-write", "host/tmp/probe-write"} {
		err := os.WriteFile(fmt.Sprintf("/proc/%d/root/%s", pid, p), nil, 0o600)
		if err == nil || !strings.Contains(err.Error(), syscall.EROFS.Error()) {
			t.Errorf("writing /%s in the agent's container: %v, want %v", p, err, syscall.EROFS)
		}
	}
}
