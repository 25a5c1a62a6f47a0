// Package clusterbox runs the project's manifests on a real single-node
// cluster built on this machine (issue 15): etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on the host, and a node "in a
// box" — its own mount, network and PID namespaces — running containerd,
// runc and the kubelet. The box keeps the agent's view of "the host" to the
// node itself: the CI machine's other listeners and processes are not the
// node's, and killing the box's PID 1 ends every container.
package clusterbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodeguard/nodeguard/integration/agentproc"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// Addresses of the box. The veth pair links the host (control plane,
// Prometheus) and the node; pods get podCIDR on the box's bridge.
const (
	nodeName  = "clusterbox"
	hostIP    = "10.250.0.1"
	boxIP     = "10.250.0.2"
	podCIDR   = "10.244.0.0/24"
	podGW     = "10.244.0.1"
	serviceIP = "10.96.0.1" // the kubernetes Service: first IP of kubeenv's range
)

// part is a process of the cluster; its log tail names it when it fails.
type part struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (p *part) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *part) tail() string {
	b, _ := os.ReadFile(p.log)
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// box is the running cluster.
type box struct {
	t       *testing.T
	dir     string
	repo    string
	env     *kubeenv.Env
	admin   kubernetes.Interface
	bin     string // kube binaries
	parts   []*part
	holder  *part
	boxPID  int // the box's PID 1, as the host sees it
	ctrSock string
	veth    string
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// nodeBinaries returns the directory of the Kubernetes binaries, building
// kubelet, kube-controller-manager, kube-scheduler and kubectl once (cached
// beside kubeenv's kube-apiserver and etcd).
func nodeBinaries(t *testing.T, repo string) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repo, "integration", "kubeenv", "build.sh"), "node")
	cmd.Env = append(os.Environ(), "KUBE_VERSION="+kubeenv.KubeVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("part kube-binaries: build.sh node: %v\n%s", err, tailString(stderr.String(), 4000))
	}
	return strings.TrimSpace(string(out))
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// lookTool finds a program of a Debian package; missing, it is a failure
// naming the package (a skip outside CI).
func lookTool(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		fatalOrSkip(t, "%s not found: install the Debian package %s (.ci/deps)", prog, pkg)
	}
	return p
}

// start runs a part until the test ends (the box's PID 1 ends the parts
// inside it); nsenter runs it inside the box when inBox.
func (b *box) start(name string, inBox bool, bin string, args ...string) *part {
	b.t.Helper()
	logPath := filepath.Join(b.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		b.t.Fatal(err)
	}
	if inBox {
		args = append([]string{"--target", strconv.Itoa(b.boxPID), "--mount", "--net", "--pid", "--", bin}, args...)
		bin = "nsenter"
	}
	p := &part{name: name, log: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		b.t.Fatalf("part %s: cannot start: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	b.parts = append(b.parts, p)
	return p
}

// run runs a command to completion (in the box when inBox), failing the
// test with its output.
func (b *box) run(inBox bool, bin string, args ...string) string {
	b.t.Helper()
	out, err := b.try(inBox, bin, args...)
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return out
}

func (b *box) try(inBox bool, bin string, args ...string) (string, error) {
	if inBox {
		args = append([]string{"--target", strconv.Itoa(b.boxPID), "--mount", "--net", "--pid", "--", bin}, args...)
		bin = "nsenter"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// waitFor polls cond until it holds, failing with the part's log tail when
// the part exits or the time is up.
func (b *box) waitFor(p *part, what string, timeout time.Duration, cond func() error) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if p != nil && p.exited() {
			b.t.Fatalf("part %s exited before %s (%v); log tail:\n%s", p.name, what, err, p.tail())
		}
		if time.Now().After(deadline) {
			name, tail := "", ""
			if p != nil {
				name, tail = p.name, p.tail()
			}
			b.t.Fatalf("part %s: %s not within %s: %v; log tail:\n%s", name, what, timeout, err, tail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// startBox brings the whole cluster up and returns it once the node is Ready
// and the images are imported.
func startBox(t *testing.T) *box {
	t.Helper()
	if os.Geteuid() != 0 {
		fatalOrSkip(t, "the cluster in a box needs root (namespaces, cgroups, mounts)")
	}
	repo := repoRoot(t)
	for _, tool := range [][2]string{
		{"runc", "runc"}, {"containerd", "containerd"}, {"ctr", "containerd"},
		{"unshare", "util-linux"}, {"nsenter", "util-linux"}, {"ip", "iproute2"}, {"iptables", "iptables"},
	} {
		lookTool(t, tool[0], tool[1])
	}
	cniDir := "/usr/lib/cni"
	if _, err := os.Stat(filepath.Join(cniDir, "bridge")); err != nil {
		fatalOrSkip(t, "CNI plugins not found in %s: install the Debian package containernetworking-plugins", cniDir)
	}
	dir, err := os.MkdirTemp("", "clusterbox-")
	if err != nil {
		t.Fatal(err)
	}
	b := &box{t: t, dir: dir, repo: repo}
	t.Cleanup(b.stop)
	b.bin = nodeBinaries(t, repo)
	imgDir := filepath.Join(dir, "images")
	must(t, os.MkdirAll(imgDir, 0o755))
	images := buildImages(t, repo, imgDir)

	b.startHolder()
	b.startNetwork()
	b.env = kubeenv.StartWith(t, kubeenv.Options{
		Bin:           b.bin,
		KubeletClient: true,
		ServingIPs:    []net.IP{net.ParseIP(serviceIP), net.ParseIP(hostIP)},
		APIServerArgs: []string{
			// Reached from the box over the veth pair.
			"--bind-address=0.0.0.0",
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--kubelet-preferred-address-types=InternalIP",
		},
	})
	b.admin = b.env.Client(t, b.env.Admin)
	b.startControllers()
	b.startContainerd(images)
	b.startKubelet()
	return b
}

// startHolder makes the box: a pause process as PID 1 of new mount, network
// and PID namespaces. The box's / is made rshared (inside the box only) so
// that HostToContainer mounts work, as on a systemd host.
func (b *box) startHolder() {
	t := b.t
	pause := filepath.Join(b.dir, "box-init")
	must(t, os.WriteFile(pause, buildGo(t, b.repo, "pause", "./integration/clusterbox/pause", "e2e"), 0o755))
	b.holder = b.start("box", false, "unshare", "--mount", "--propagation", "unchanged", "--net", "--pid", "--fork", "--mount-proc", pause)
	b.waitFor(b.holder, "the box's PID 1", 10*time.Second, func() error {
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", b.holder.cmd.Process.Pid, b.holder.cmd.Process.Pid))
		if err != nil {
			return err
		}
		f := strings.Fields(string(kids))
		if len(f) == 0 {
			return fmt.Errorf("no child yet")
		}
		b.boxPID, err = strconv.Atoi(f[0])
		return err
	})
	b.run(true, "mount", "--make-rshared", "/")
	// Paths the kubelet and containerd use whatever their configuration
	// (shim sockets, network namespaces, log links, device plugins): the
	// box gets its own, so nothing of it is left on the host.
	for _, d := range []string{"/run/containerd", "/run/netns", "/var/log/containers", "/var/lib/kubelet"} {
		must(t, os.MkdirAll(d, 0o755))
		b.run(true, "mount", "-t", "tmpfs", "tmpfs", d)
	}
}

// startNetwork links the box to the host: a veth pair, the pod subnet routed
// through the box, forwarding inside the box (its own sysctl), and the
// kubernetes Service's address sent to the API server on the host, which is
// what kube-proxy would do for in-cluster clients such as the agent.
func (b *box) startNetwork() {
	b.veth = fmt.Sprintf("ngbox%d", b.boxPID%100000)
	b.run(false, "ip", "link", "add", b.veth, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(b.boxPID))
	b.run(false, "ip", "addr", "add", hostIP+"/30", "dev", b.veth)
	b.run(false, "ip", "link", "set", b.veth, "up")
	b.run(true, "ip", "link", "set", "lo", "up")
	b.run(true, "ip", "addr", "add", boxIP+"/30", "dev", "eth0")
	b.run(true, "ip", "link", "set", "eth0", "up")
	b.run(true, "ip", "route", "add", "default", "via", hostIP)
	b.run(false, "ip", "route", "add", podCIDR, "via", boxIP)
	b.run(true, "sysctl", "-qw", "net.ipv4.ip_forward=1")
}

func (b *box) serviceDNAT(apiPort string) {
	b.run(true, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", serviceIP, "-p", "tcp", "--dport", "443",
		"-j", "DNAT", "--to-destination", hostIP+":"+apiPort)
}

func (b *box) apiPort() string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(b.env.Host, "https://"))
	return port
}

func (b *box) startControllers() {
	t := b.t
	cm := b.start("kube-controller-manager", false, filepath.Join(b.bin, "kube-controller-manager"),
		b.env.ControllerManagerArgs("*", "-nodeipam")...)
	sched := b.start("kube-scheduler", false, filepath.Join(b.bin, "kube-scheduler"),
		"--kubeconfig="+b.env.Admin, "--leader-elect=false", "--secure-port=0")
	// The token controller makes the default ServiceAccount of a namespace.
	b.waitFor(cm, "the default ServiceAccount", 90*time.Second, func() error {
		_, err := b.admin.CoreV1().ServiceAccounts("default").Get(context.Background(), "default", metav1.GetOptions{})
		return err
	})
	if sched.exited() {
		t.Fatalf("part kube-scheduler exited; log tail:\n%s", sched.tail())
	}
}

func (b *box) startContainerd(images []string) {
	t := b.t
	cdir := filepath.Join(b.dir, "containerd")
	cniConf := filepath.Join(b.dir, "cni")
	must(t, os.MkdirAll(cniConf, 0o755))
	must(t, os.WriteFile(filepath.Join(cniConf, "10-clusterbox.conflist"), []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "clusterbox",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q, "gateway": %q}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}`, filepath.Join(b.dir, "cni-ipam"), podCIDR, podGW)), 0o644))
	b.ctrSock = filepath.Join(b.dir, "containerd.sock")
	cfg := filepath.Join(b.dir, "containerd.toml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  # This machine's root lacks CAP_SYS_RESOURCE: runc cannot lower
  # oom_score_adj (the pause container's -998). Keep scores >= containerd's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`, filepath.Join(cdir, "root"), filepath.Join(cdir, "state"), b.ctrSock, pauseImage, cniConf)), 0o644))
	ctrd := b.start("containerd", true, lookTool(t, "containerd", "containerd"), "--config", cfg)
	b.waitFor(ctrd, "containerd's socket", 60*time.Second, func() error {
		_, err := b.try(true, "ctr", "--address", b.ctrSock, "version")
		return err
	})
	for _, img := range images {
		out, err := b.try(true, "ctr", "--address", b.ctrSock, "-n", "k8s.io", "images", "import", img)
		if err != nil {
			t.Fatalf("part containerd: ctr images import %s: %v\n%s\nlog tail:\n%s", filepath.Base(img), err, out, ctrd.tail())
		}
	}
}

func (b *box) startKubelet() {
	t := b.t
	kdir := filepath.Join(b.dir, "kubelet")
	must(t, os.MkdirAll(kdir, 0o755))
	kubeconfig := b.env.Kubeconfig(t, "system:node:"+nodeName, "system:nodes")
	// The kubelet reaches the API server over the veth, not loopback.
	raw, err := os.ReadFile(kubeconfig)
	must(t, err)
	must(t, os.WriteFile(kubeconfig, bytes.ReplaceAll(raw, []byte("127.0.0.1"), []byte(hostIP)), 0o600))
	// The box has its own network namespace: the kubelet's usual port is
	// free there, and the only one the worker port table allows.
	port := 10250
	cfg := filepath.Join(b.dir, "kubelet.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts the cgroup v1 controllers; since v1.35 the kubelet
# refuses to start there unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
podLogsDir: %q
failSwapOn: false
maxPods: 20
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
resolvConf: ""
`, b.ctrSock, port, b.env.Path("ca.crt"), filepath.Join(b.dir, "pod-logs"))), 0o644))
	kubelet := b.start("kubelet", true, filepath.Join(b.bin, "kubelet"),
		"--config="+cfg, "--kubeconfig="+kubeconfig, "--root-dir="+kdir,
		"--hostname-override="+nodeName, "--node-ip="+boxIP, "--v=1")
	b.waitFor(kubelet, "node Ready", 3*time.Minute, func() error {
		n, err := b.admin.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("no Ready condition")
	})
	b.serviceDNAT(b.apiPort())
}

// kubectl runs the built kubectl as admin.
func (b *box) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "kubectl"), append([]string{"--kubeconfig", b.env.Admin}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *box) mustKubectl(args ...string) string {
	b.t.Helper()
	out, err := b.kubectl(args...)
	if err != nil {
		b.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// partLog is the log tail of a part, for failure messages.
func (b *box) partLog(name string) string {
	for _, p := range b.parts {
		if p.name == name {
			return p.tail()
		}
	}
	return ""
}

// stop ends the box (its PID 1 takes every process in it along), the
// control plane (kubeenv's cleanup), and removes the kubelet's cgroups.
func (b *box) stop() {
	for i := len(b.parts) - 1; i >= 0; i-- {
		p := b.parts[i]
		if p == b.holder {
			continue
		}
		agentproc.Terminate(p.cmd.Process, p.done, 10*time.Second)
	}
	if b.holder != nil {
		if b.boxPID > 0 {
			_ = syscall.Kill(b.boxPID, syscall.SIGKILL)
		}
		agentproc.Terminate(b.holder.cmd.Process, b.holder.done, 10*time.Second)
	}
	// Killing the box's PID 1 kills every process in it; wait for them to go
	// before removing their cgroups.
	time.Sleep(time.Second)
	removeCgroups("kubepods")
	if b.t.Failed() {
		for _, p := range b.parts {
			b.t.Logf("--- %s log tail:\n%s", p.name, p.tail())
		}
		b.t.Logf("cluster files kept in %s", b.dir)
		return
	}
	_ = os.RemoveAll(b.dir)
}

// removeCgroups removes the kubelet's cgroup tree from every hierarchy,
// deepest first (a cgroup directory is removed with rmdir).
func removeCgroups(name string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if r := "/sys/fs/cgroup/" + name; exists(r) {
		roots = append(roots, r)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for range 20 {
				if err := syscall.Rmdir(dirs[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
