package controlplane

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// staticPod is the part of a Pod manifest the checks read.
type staticPod struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		SecurityContext *securityContext `json:"securityContext"`
		Containers      []struct {
			Name            string           `json:"name"`
			Image           string           `json:"image"`
			Command         []string         `json:"command"`
			Args            []string         `json:"args"`
			SecurityContext *securityContext `json:"securityContext"`
			Env             []struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				ValueFrom any    `json:"valueFrom"`
			} `json:"env"`
			VolumeMounts []struct {
				Name      string `json:"name"`
				MountPath string `json:"mountPath"`
			} `json:"volumeMounts"`
		} `json:"containers"`
		Volumes []struct {
			Name     string `json:"name"`
			HostPath *struct {
				Path string `json:"path"`
			} `json:"hostPath"`
		} `json:"volumes"`
	} `json:"spec"`
}

type securityContext struct {
	RunAsUser  *int64 `json:"runAsUser"`
	RunAsGroup *int64 `json:"runAsGroup"`
}

// pod is one component's container as its manifest runs it.
type pod struct {
	manifest string
	flags    map[string]string // effective settings, last flag wins
	source   map[string]string // where each setting came from
	image    string
	mounts   map[string]string // container path -> host path (hostPath volumes)
	uid, gid int64             // the user the container runs as (0 when unset)
}

// readPod returns the component's container: its flags and, for etcd, the
// ETCD_* environment variables it reads for flags not given.
func readPod(root *hostfs.Root, p, name string) (*pod, error) {
	data, err := root.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("static pod manifest: %w", err)
	}
	var sp staticPod
	if err := yaml.Unmarshal(data, &sp); err != nil {
		return nil, fmt.Errorf("static pod manifest %s: %w", p, err)
	}
	if sp.Kind != "Pod" || sp.APIVersion != "v1" {
		return nil, fmt.Errorf("static pod manifest %s: is %s %s, want v1 Pod", p, sp.APIVersion, sp.Kind)
	}
	hostPaths := map[string]string{}
	for _, v := range sp.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	for _, c := range sp.Spec.Containers {
		argv := append(slices.Clone(c.Command), c.Args...)
		if c.Name != name && (len(argv) == 0 || path.Base(argv[0]) != name) {
			continue
		}
		pd := &pod{manifest: p, flags: parseFlags(argv), source: map[string]string{}, image: c.Image, mounts: map[string]string{}}
		for k := range pd.flags {
			pd.source[k] = "flag --" + k + " in " + p
		}
		if name == "etcd" {
			// etcd reads ETCD_<FLAG> for each flag not given on the command
			// line; a flag given on both wins (etcd's flags.SetFlagsFromEnv).
			for _, e := range c.Env {
				k, ok := strings.CutPrefix(e.Name, "ETCD_")
				if !ok || e.ValueFrom != nil {
					continue
				}
				k = strings.ReplaceAll(strings.ToLower(k), "_", "-")
				if _, set := pd.flags[k]; !set {
					pd.flags[k], pd.source[k] = e.Value, "environment "+e.Name+" in "+p
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if hp, ok := hostPaths[m.Name]; ok {
				pd.mounts[path.Clean(m.MountPath)] = hp
			}
		}
		for _, sc := range []*securityContext{sp.Spec.SecurityContext, c.SecurityContext} {
			if sc != nil && sc.RunAsUser != nil {
				pd.uid = *sc.RunAsUser
			}
			if sc != nil && sc.RunAsGroup != nil {
				pd.gid = *sc.RunAsGroup
			}
		}
		return pd, nil
	}
	return nil, fmt.Errorf("static pod manifest %s: no %s container", p, name)
}

// hostPath is where a path the container names is on the host: through the
// hostPath volume mounted at it or above it, else the same path (kubeadm
// mounts host directories at their own paths).
func (pd *pod) hostPath(p string) string {
	p = path.Clean(p)
	best := ""
	for mp := range pd.mounts {
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	if best == "" {
		return p
	}
	return path.Join(pd.mounts[best], strings.TrimPrefix(p, best))
}

var imageVersion = regexp.MustCompile(`:(v1\.(\d+)\.\d+)`)

// version is the component's Kubernetes version from its image tag
// ("v1.34.2" of "registry.k8s.io/kube-apiserver:v1.34.2-eks-1"), and its
// minor; "" and 0 when the tag does not say (a digest only, a custom tag).
func (pd *pod) version() (string, int) {
	img := pd.image
	if i := strings.LastIndex(img, "/"); i >= 0 {
		img = img[i:]
	}
	m := imageVersion.FindStringSubmatch(img)
	if m == nil {
		return "", 0
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// minor is version's minor.
func (pd *pod) minor() int {
	_, n := pd.version()
	return n
}

// ComponentImage is a Kubernetes component's image as its static pod
// manifest runs it.
type ComponentImage struct {
	Component, Manifest, Image string
	// Version is the image tag's Kubernetes version, "" when it has none.
	Version string
}

// Images reads the images of the static pods that carry Kubernetes' own
// version: kube-apiserver, kube-controller-manager and kube-scheduler (etcd
// has versions of its own). A component without a manifest is left out; one
// whose manifest cannot be read is an error.
func Images(root *hostfs.Root) ([]ComponentImage, []error) {
	var out []ComponentImage
	var errs []error
	for _, c := range components {
		if c.name == "etcd" {
			continue
		}
		p := path.Join(manifestDir, c.name+".yaml")
		if !root.Exists(p) {
			continue
		}
		pd, err := readPod(root, p, c.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v, _ := pd.version()
		out = append(out, ComponentImage{Component: c.name, Manifest: p, Image: pd.image, Version: v})
	}
	return out, errs
}

func parseFlags(argv []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a, ok := strings.CutPrefix(argv[i], "--")
		if !ok {
			continue
		}
		k, v, hasVal := strings.Cut(a, "=")
		if !hasVal {
			v = "true"
			if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
				v, i = argv[i+1], i+1
			}
		}
		flags[k] = v
	}
	return flags
}
