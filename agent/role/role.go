// Package role tells a control-plane node from a worker by looking at the host.
package role

import (
	"bytes"
	"fmt"
	"strconv"

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
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		comm, err := root.ReadFileLimit("/proc/"+n+"/comm", 64)
		if err != nil {
			continue
		}
		c := string(bytes.TrimSpace(comm))
		if controlPlaneProcesses[c] {
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
