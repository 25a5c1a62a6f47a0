package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nodeguard/nodeguard/"

// layer of a project package: what it is, lowest first. A package may
// import packages of its own layer and of the layers below it, never above.
func layer(path string) (int, string) {
	rel := strings.TrimPrefix(path, module)
	switch {
	case strings.HasPrefix(rel, "probes/model/"):
		return 0, "shared model"
	case strings.HasPrefix(rel, "bpf/"), rel == "bpf":
		return 0, "BPF programs"
	case strings.HasPrefix(rel, "probes/"), rel == "probes":
		return 1, "probes"
	case strings.HasPrefix(rel, "agent/"):
		return 2, "agent"
	case strings.HasPrefix(rel, "cmd/"):
		return 3, "cmd"
	}
	return 4, "tests and tools" // integration/, manifests/: above everything
}

type listedPackage struct {
	ImportPath, Name string
	Imports          []string
	Standard         bool
}

func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestLayers holds the tree to its layers: the shared model (finding, the
// host reader, policy) imports nothing else of the project, probes import
// only the model (and the BPF objects), the agent sits above the probes, and
// only cmd imports the agent's CLI. Probes never import client-go or
// Prometheus, and exporters never reach the host reader.
func TestLayers(t *testing.T) {
	for _, p := range goList(t, "./...") {
		from, fromName := layer(p.ImportPath)
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				if to, toName := layer(imp); to > from || (from == 0 && to == 0 && !sameGroup(p.ImportPath, imp)) {
					t.Errorf("%s (%s) imports %s (%s)", p.ImportPath, fromName, imp, toName)
				}
				if strings.Contains(p.ImportPath, "/agent/export/") && strings.HasSuffix(imp, "/probes/model/hostfs") {
					t.Errorf("%s is an exporter and imports the host reader", p.ImportPath)
				}
				continue
			}
			if from == 1 && (strings.HasPrefix(imp, "k8s.io/client-go") || strings.HasPrefix(imp, "github.com/prometheus/")) {
				t.Errorf("probe package %s imports %s", p.ImportPath, imp)
			}
		}
	}
}

// sameGroup allows the model's packages to import each other and the BPF
// packages theirs; the two groups stay apart.
func sameGroup(a, b string) bool {
	group := func(p string) string {
		if strings.HasPrefix(p, module+"bpf") {
			return "bpf"
		}
		return "model"
	}
	return group(a) == group(b)
}

// TestPackageNames: no package of the project is named like a package of
// the standard library or like one the project's code imports, so that a
// reader never wonders which `runtime` or `metrics` a file means.
func TestPackageNames(t *testing.T) {
	taken := map[string]string{}
	for _, p := range goList(t, "std") {
		if !strings.Contains(p.ImportPath, "internal") && !strings.Contains(p.ImportPath, "vendor/") && !strings.HasPrefix(p.ImportPath, "cmd/") {
			taken[p.Name] = p.ImportPath
		}
	}
	own := goList(t, "./...")
	var imported []string
	for _, p := range own {
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) && strings.Contains(imp, ".") {
				imported = append(imported, imp)
			}
		}
	}
	if len(imported) > 0 {
		for _, p := range goList(t, imported...) {
			if _, ok := taken[p.Name]; !ok {
				taken[p.Name] = p.ImportPath
			}
		}
	}
	for _, p := range own {
		if p.Name == "main" {
			continue
		}
		if other, ok := taken[p.Name]; ok {
			t.Errorf("package %s is named %q like %s", p.ImportPath, p.Name, other)
		}
	}
}
