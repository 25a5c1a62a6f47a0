// Package role tells a control-plane node from a worker by looking at the host.
package role

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// controlPlaneManifests are the static pods kubeadm (and most installers that
// use static pods) write on a control-plane node.
var controlPlaneManifests = []string{
	"/etc/kubernetes/manifests/kube-apiserver.yaml",
	"/etc/kubernetes/manifests/etcd.yaml",
}

// controlPlaneProcesses run only on control-plane nodes. etcd alone is not
// enough: an etcd process on a worker is the misconfiguration the ports probe
// must flag, not a reason to judge the node by control-plane rules.
var controlPlaneProcesses = map[string]bool{"kube-apiserver": true}

// Detect returns the role and the evidence it rests on.
func Detect(root *hostfs.Root) (probes.Role, string) {
	for _, m := range controlPlaneManifests {
		if root.Exists(m) {
			return probes.ControlPlane, "static pod manifest " + m + " exists"
		}
	}
	if pid, name := findProcess(root); pid > 0 {
		return probes.ControlPlane, fmt.Sprintf("%s is running (pid %d)", name, pid)
	}
	return probes.Worker, "no kube-apiserver or etcd static pod manifest and no kube-apiserver process"
}

func findProcess(root *hostfs.Root) (int, string) {
	names, err := root.ReadDirNames("/proc")
	if err != nil {
		return 0, ""
	}
	// Every scan without a --role reads one comm file per process: a few
	// goroutines share them, as a node runs hundreds. The first match in
	// directory order wins, whichever goroutine finds it.
	const workers = 4
	found := make([]string, len(names))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(names); i += workers {
				if _, err := strconv.Atoi(names[i]); err != nil {
					continue
				}
				comm, err := root.ReadFileLimit("/proc/"+names[i]+"/comm", 64)
				if err != nil {
					continue
				}
				if c := string(bytes.TrimSpace(comm)); controlPlaneProcesses[c] {
					found[i] = c
				}
			}
		})
	}
	wg.Wait()
	for i, c := range found {
		if c != "" {
			pid, _ := strconv.Atoi(names[i])
			return pid, c
		}
	}
	return 0, ""
}

// Parse validates a --role value: auto, control-plane or worker.
func Parse(s string) (probes.Role, bool, error) {
	switch s {
	case "", "auto":
		return "", true, nil
	case string(probes.ControlPlane):
		return probes.ControlPlane, false, nil
	case string(probes.Worker):
		return probes.Worker, false, nil
	}
	return "", false, fmt.Errorf("--role %q: want auto, control-plane or worker", s)
}
