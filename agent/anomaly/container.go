package anomaly

import (
	"path"
	"strings"
)

// PodResolver maps a container id to its pod. The Kubernetes side implements
// it with an informer on the pods of this node.
type PodResolver interface {
	Lookup(containerID string) (namespace, pod, container string, ok bool)
}

// containerPrefixes are the systemd-driver unit names of the runtimes.
var containerPrefixes = []struct{ prefix, runtime string }{
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"docker-", "docker"},
	{"libpod-", "podman"},
}

// ParseContainerID finds a container id in a cgroup path or leaf name:
// "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope",
// "libpod-<id>.scope" (systemd driver, cgroup v1 or v2), or a bare 64-hex
// leaf (cgroupfs driver: /kubepods/burstable/pod<uid>/<id>, /docker/<id>).
// The innermost component that names a container wins, because a container
// may create cgroups below its own.
func ParseContainerID(cgroupPath string) (runtime, id string, ok bool) {
	parts := strings.Split(strings.Trim(cgroupPath, "/"), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		name := strings.TrimSuffix(parts[i], ".scope")
		for _, p := range containerPrefixes {
			if rest, found := strings.CutPrefix(name, p.prefix); found && isContainerID(rest) {
				return p.runtime, rest, true
			}
		}
		if isContainerID(name) {
			parent := path.Join(parts[:i]...)
			switch {
			case strings.Contains(parent, "docker"):
				return "docker", name, true
			case strings.Contains(parent, "kubepods"):
				return "containerd", name, true
			}
			return "", name, true
		}
	}
	return "", "", false
}

func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// cgroupPathFromProc picks the path to search for a container id from the
// lines of /proc/<pid>/cgroup: the v2 line ("0::/...") unless it is the root,
// else the v1 pids, memory or first named hierarchy.
func cgroupPathFromProc(lines []string) string {
	var v2, v1 string
	for _, l := range lines {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if (c == "pids" || c == "memory") && v1 == "" {
				v1 = parts[2]
			}
		}
	}
	if v2 != "" && v2 != "/" {
		return v2
	}
	return v1
}
