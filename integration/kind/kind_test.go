// Package kind checks the end-to-end harnesses this machine cannot run (no
// Docker engine, no VMs): the kind cluster config decodes with kind's own
// types, the overlay builds and deploys the image run.sh loads, every script
// passes shellcheck, the Vagrantfile parses, and the shared assertions agree
// with what the real agent exports.
package kind

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

func decodeStrict(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestClusterConfig(t *testing.T) {
	var c v1alpha4.Cluster
	decodeStrict(t, "cluster.yaml", &c)
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		t.Fatalf("kind %q apiVersion %q: not a kind cluster config", c.Kind, c.APIVersion)
	}
	v1alpha4.SetDefaultsCluster(&c)
	roles := map[v1alpha4.NodeRole]int{}
	for _, n := range c.Nodes {
		roles[n.Role]++
	}
	if len(c.Nodes) != 3 || roles[v1alpha4.ControlPlaneRole] != 1 || roles[v1alpha4.WorkerRole] != 2 {
		t.Fatalf("nodes %v: want one control plane and two workers", roles)
	}
}

// runShImage is the image run.sh builds and loads.
func runShImage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^image=(\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("run.sh sets no image=")
	}
	return string(m[1])
}

func TestOverlayDeploysTheLoadedImage(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), "overlay")
	if err != nil {
		t.Fatalf("kustomize overlay: %v", err)
	}
	base, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "manifests"))
	if err != nil {
		t.Fatalf("kustomize base: %v", err)
	}
	if res.Size() != base.Size() {
		t.Errorf("overlay has %d resources, the base %d: it must deploy exactly the base", res.Size(), base.Size())
	}
	var found bool
	for _, r := range res.Resources() {
		if r.GetKind() != "DaemonSet" || r.GetName() != "nodeguard" {
			continue
		}
		found = true
		image, err := r.GetFieldValue("spec.template.spec.containers[0].image")
		if err != nil {
			t.Fatal(err)
		}
		if want := runShImage(t); image != want {
			t.Errorf("DaemonSet image %v, but run.sh loads %s", image, want)
		}
		args, err := r.GetSlice("spec.template.spec.containers[0].args")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(args, any("--interval=15s")) || !slices.Contains(args, any("run")) {
			t.Errorf("DaemonSet args %v: want run with --interval=15s", args)
		}
	}
	if !found {
		t.Fatal("overlay renders no DaemonSet nodeguard")
	}
}

// libValue reads NAME=value from assert-lib.sh.
func libValue(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("assert-lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("assert-lib.sh sets no %s", name)
	}
	return string(m[1])
}

func TestForbiddenPortPod(t *testing.T) {
	var pod corev1.Pod
	decodeStrict(t, "forbidden-port-pod.yaml", &pod)
	if !pod.Spec.HostNetwork || pod.Spec.NodeName != "NODE" {
		t.Fatalf("pod: hostNetwork %v nodeName %q: want a host-network pod on the node run.sh substitutes for NODE", pod.Spec.HostNetwork, pod.Spec.NodeName)
	}
	c := pod.Spec.Containers[0]
	port := libValue(t, "FORBIDDEN_PORT")
	if !slices.Contains(c.Args, "--http-port="+port) || c.Ports[0].HostPort != c.Ports[0].ContainerPort ||
		c.Ports[0].ContainerPort != mustAtoi(t, port) || c.ReadinessProbe.TCPSocket.Port.String() != port {
		t.Errorf("the pod does not listen on the forbidden port %s: args %v ports %v", port, c.Args, c.Ports)
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck not installed (Debian package shellcheck, in .ci/deps)")
	}
	scripts, _ := filepath.Glob("*.sh")
	more, _ := filepath.Glob("../vagrant/*.sh")
	sbom, _ := filepath.Glob("../sbom/*.sh")
	scripts = append(append(scripts, more...), sbom...)
	if len(scripts) < 5 {
		t.Fatalf("found only %v", scripts)
	}
	for _, s := range scripts {
		dir, file := filepath.Split(s)
		cmd := exec.Command(sc, "-x", file)
		cmd.Dir = dir
		if dir == "" {
			cmd.Dir = "."
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
}

func TestVagrantfile(t *testing.T) {
	data, err := os.ReadFile("../vagrant/Vagrantfile")
	if err != nil {
		t.Fatal(err)
	}
	// Every file it copies into the VM exists (bin/nodeguard and
	// bin/nodeguard-agent are built first).
	for _, m := range regexp.MustCompile(`File\.join\((repo|__dir__), ([^)]*)\)`).FindAllStringSubmatch(string(data), -1) {
		dir := "../vagrant"
		if m[1] == "repo" {
			dir = "../.."
		}
		parts := []string{dir}
		for _, p := range strings.Split(m[2], ",") {
			parts = append(parts, strings.Trim(strings.TrimSpace(p), `"`))
		}
		path := filepath.Join(parts...)
		if path == filepath.Join("../..", "bin", "nodeguard") || path == filepath.Join("../..", "bin", "nodeguard-agent") {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Vagrantfile copies %s: %v", path, err)
		}
	}
	t.Run("ruby -c", func(t *testing.T) {
		ruby, err := exec.LookPath("ruby")
		if err != nil {
			t.Skip("ruby not installed (Debian package ruby): the Vagrantfile's syntax is unchecked")
		}
		if out, err := exec.Command(ruby, "-c", "../vagrant/Vagrantfile").CombinedOutput(); err != nil {
			t.Fatalf("ruby -c Vagrantfile: %v\n%s", err, out)
		}
	})
}

// TestAssertionsOnRealMetrics: the shell assertions both harnesses use hold
// on what the real agent exports when the forbidden port is open, and fail
// when it is not.
func TestAssertionsOnRealMetrics(t *testing.T) {
	port := libValue(t, "FORBIDDEN_PORT")
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		t.Skipf("cannot listen on the forbidden port %s here: %v", port, err)
	}
	defer l.Close()
	bin := agentproc.Build(t, t.TempDir())
	a := agentproc.Start(t, bin, "--no-bpf")
	body, err := a.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	check := func(fn, input string) bool {
		cmd := exec.Command("bash", "-c", `. ./assert-lib.sh && `+fn)
		cmd.Stdin = strings.NewReader(input)
		return cmd.Run() == nil
	}
	if !check("scan_published", body) {
		t.Errorf("scan_published fails on the agent's /metrics:\n%s", body)
	}
	if !check("forbidden_port_open", body) {
		t.Errorf("forbidden_port_open misses port %s on the agent's /metrics:\n%s", port, body)
	}
	var without []string
	for _, line := range strings.Split(body, "\n") {
		if !strings.Contains(line, `port="`+port+`"`) {
			without = append(without, line)
		}
	}
	if check("forbidden_port_open", strings.Join(without, "\n")) {
		t.Error("forbidden_port_open holds on metrics without the port")
	}
	if check("scan_published", "") {
		t.Error("scan_published holds on empty metrics")
	}
}

func mustAtoi(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}
