package controlplane

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

//go:generate go run ./internal/admissiongen -o admission_gen.go

// admissionTable is one Kubernetes minor's admission plugins (generated).
type admissionTable struct {
	source          string
	defaults, known []string
}

// admission is the kube-apiserver's effective admission plugin set.
type admission struct {
	enabled map[string]bool
	// basis says which default set was used, and why.
	basis string
	// unsure are plugins on by default in some supported version but not in
	// all: with the version unknown, "must be on" checks do not count them
	// and "must be off" checks do.
	unsure map[string]bool
	// configured are the plugins --admission-control-config-file configures.
	configured []string
}

// admissionTables are the generated tables, built on first use.
var admissionTables = sync.OnceValue(buildAdmissionTables)

// effectiveAdmission computes the set as the API server does: that
// version's default-enabled plugins, plus --enable-admission-plugins, minus
// --disable-admission-plugins.
func effectiveAdmission(root *hostfs.Root, pd *pod) (*admission, error) {
	a := &admission{enabled: map[string]bool{}, unsure: map[string]bool{}}
	minor := pd.minor()
	if t, ok := admissionTables()[minor]; ok {
		for _, p := range t.defaults {
			a.enabled[p] = true
		}
		a.basis = fmt.Sprintf("v1.%d defaults (from %s; version from image %s)", minor, t.source, pd.image)
	} else {
		// Unknown version: a plugin counts as on by default when any
		// supported release has it on; "must be on" checks see only those
		// every release has on.
		count := map[string]int{}
		for _, t := range admissionTables() {
			for _, p := range t.defaults {
				count[p]++
			}
		}
		for p, n := range count {
			a.enabled[p] = true
			if n < len(admissionTables()) {
				a.unsure[p] = true
			}
		}
		lo, hi := slices.Min(slices.Collect(maps.Keys(admissionTables()))), slices.Max(slices.Collect(maps.Keys(admissionTables())))
		why := "no version in image " + pd.image
		if minor != 0 {
			why = fmt.Sprintf("v1.%d has no table", minor)
		}
		a.basis = fmt.Sprintf("version unknown (%s): judged against the defaults of v1.%d-v1.%d, most conservatively", why, lo, hi)
	}
	for _, p := range splitList(pd.flags["enable-admission-plugins"]) {
		a.enabled[p], a.unsure[p] = true, false
	}
	for _, p := range splitList(pd.flags["disable-admission-plugins"]) {
		delete(a.enabled, p)
		delete(a.unsure, p)
	}
	if f := pd.flags["admission-control-config-file"]; f != "" {
		names, err := admissionConfigPlugins(root, pd.hostPath(f))
		if err != nil {
			return nil, err
		}
		a.configured = names
	}
	return a, nil
}

// on says whether the plugin is on for a "must be on" check.
func (a *admission) on(p string) bool { return a.enabled[p] && !a.unsure[p] }

// state says how the plugin stands in the effective set.
func (a *admission) state(p string) string {
	switch {
	case a.unsure[p]:
		return "on by default in some supported releases only"
	case a.enabled[p]:
		return "on"
	}
	return "off"
}

// list is the effective set, sorted, for evidence.
func (a *admission) list() string {
	var ps []string
	for p := range a.enabled {
		s := p
		if a.unsure[p] {
			s += "?"
		}
		ps = append(ps, s)
	}
	sort.Strings(ps)
	return strings.Join(ps, ",")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// admissionConfigPlugins reads an AdmissionConfiguration: it configures
// plugins but enables none, so its names are evidence only.
func admissionConfigPlugins(root *hostfs.Root, p string) ([]string, error) {
	data, err := root.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("--admission-control-config-file: %w", err)
	}
	var ac struct {
		Kind    string `json:"kind"`
		Plugins []struct {
			Name string `json:"name"`
		} `json:"plugins"`
	}
	if err := yaml.Unmarshal(data, &ac); err != nil {
		return nil, fmt.Errorf("--admission-control-config-file %s: %w", p, err)
	}
	if ac.Kind != "AdmissionConfiguration" {
		return nil, fmt.Errorf("--admission-control-config-file %s: kind is %q, want AdmissionConfiguration", p, ac.Kind)
	}
	var names []string
	for _, pl := range ac.Plugins {
		names = append(names, pl.Name)
	}
	return names, nil
}
