package role

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

func tree(t *testing.T, files map[string]string) *hostfs.Root {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func TestDetect(t *testing.T) {
	procs := func(comms ...string) map[string]string {
		m := map[string]string{"proc/self/comm": "kube-apiserver\n"} // not a pid: ignored
		for i, c := range comms {
			m[filepath.Join("proc", strconv.Itoa(10*(i+1)), "comm")] = c + "\n"
		}
		return m
	}
	for _, c := range []struct {
		name   string
		files  map[string]string
		want   probes.Role
		reason string
	}{
		{"nothing", procs("systemd", "sshd", "kubelet"), probes.Worker, "no kube-apiserver"},
		{"manifest", map[string]string{"etc/kubernetes/manifests/etcd.yaml": "kind: Pod\n"}, probes.ControlPlane, "etcd.yaml exists"},
		{"process", procs("systemd", "kubelet", "kube-apiserver", "etcd", "kube-apiserver"), probes.ControlPlane, "kube-apiserver is running (pid 30)"},
		{"no proc", map[string]string{"etc/hostname": "n\n"}, probes.Worker, "no kube-apiserver"},
	} {
		got, reason := Detect(tree(t, c.files))
		if got != c.want || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: Detect = %s (%s), want %s (%s)", c.name, got, reason, c.want, c.reason)
		}
	}
}

// TestDetectManyProcesses: the first kube-apiserver in /proc order is named
// whichever worker reads it, however many processes there are.
func TestDetectManyProcesses(t *testing.T) {
	files := map[string]string{}
	for pid := 100; pid < 600; pid++ {
		comm := "worker-thing"
		if pid == 377 || pid == 512 {
			comm = "kube-apiserver"
		}
		files[filepath.Join("proc", strconv.Itoa(pid), "comm")] = comm + "\n"
	}
	for range 20 {
		if got, reason := Detect(tree(t, files)); got != probes.ControlPlane || !strings.Contains(reason, "(pid 377)") {
			t.Fatalf("Detect = %s (%s), want control-plane, pid 377", got, reason)
		}
	}
}
