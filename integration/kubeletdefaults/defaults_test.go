// Package kubeletdefaults checks nodeguard's model of the kubelet against the
// kubelet's own code: its flag set, its defaulting (with and without
// --config) and its flag-over-file precedence, for every field the kubelet
// probe's checks read. The version go.mod pins runs live (kubeletref); the
// others of versions.txt come as dumps their own code made (versions.sh, in
// modules of their own): recorded in testdata/dumps, or fresh ones in
// NODEGUARD_KUBELET_DUMPS. Building every version costs minutes each, so
// make reference reads the recorded dumps. It is a separate module because
// k8s.io/kubernetes is heavy and must not become a dependency of nodeguard.
package kubeletdefaults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/nodeguard/nodeguard/integration/kubeletdefaults/kubeletref"
	"github.com/nodeguard/nodeguard/integration/kubeletdefaults/versiondata"
	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// versions are the live kubelet and the dumps of the others.
func versions(t *testing.T) []*versiondata.Version {
	live, err := kubeletref.Dump()
	if err != nil {
		t.Fatal(err)
	}
	// A test binary's build information lists no dependencies: go.mod has it.
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/kubernetes")
	}
	live.Version = string(m[1])
	out := []*versiondata.Version{live}
	// The dumps versions.sh generate recorded; versions.sh test makes fresh ones.
	dir := os.Getenv("NODEGUARD_KUBELET_DUMPS")
	if dir == "" {
		dir = "testdata/dumps"
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dumps in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v versiondata.Version
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if v.Version != live.Version { // the live run covers the pinned one
			out = append(out, &v)
		}
	}
	return out
}

func TestVersionsMatchKubelet(t *testing.T) {
	for _, v := range versions(t) {
		t.Run(v.Version, func(t *testing.T) {
			checkFlags(t, v)
			checkCases(t, v)
		})
	}
}

// checkFlags holds nodeguard's flag table for the version to the kubelet's.
func checkFlags(t *testing.T, v *versiondata.Version) {
	ours, ok := kubelet.FlagTable(v.Version)
	if !ok {
		t.Fatalf("nodeguard has no table for %s: run make kubelet-tables", v.Version)
	}
	for name, f := range v.Flags {
		isBool, ok := ours[name]
		if !ok {
			t.Errorf("kubelet flag --%s is missing from nodeguard's table", name)
			continue
		}
		if isBool != f.Bool {
			t.Errorf("--%s: kubelet takes it without a value=%v, nodeguard=%v", name, f.Bool, isBool)
		}
		delete(ours, name)
	}
	for name := range ours {
		t.Errorf("nodeguard knows --%s, which the kubelet does not have", name)
	}
}

// checkCases holds nodeguard's effective configuration, judged with the
// version's tables, to the kubelet's for each case.
func checkCases(t *testing.T, v *versiondata.Version) {
	if len(v.Cases) != len(versiondata.Cases) {
		t.Fatalf("the dump has %d cases, want %d: make it again", len(v.Cases), len(versiondata.Cases))
	}
	for i, c := range versiondata.Cases {
		res := v.Cases[i]
		if res.Name != c.Name {
			t.Fatalf("case %d is %q in the dump, want %q", i, res.Name, c.Name)
		}
		dir := t.TempDir()
		if c.Config != "" {
			if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "etc/kubelet.yaml"), []byte(c.Config), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		root, err := hostfs.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := kubelet.ResolveVersion(root, c.Args, "/", v.Version, "test")
		root.Close()
		if err != nil {
			t.Fatalf("%s: nodeguard: %v", c.Name, err)
		}
		if ours.Version.Union || len(ours.UnknownFlags) > 0 {
			t.Errorf("%s: judged against %s, unknown flags %q", c.Name, ours.Version, ours.UnknownFlags)
		}
		// Into the probes' own copy of the KubeletConfiguration types,
		// whose JSON is k8s.io/kubelet's.
		want := &kubelet.Effective{Flags: res.Flags}
		if err := json.Unmarshal(res.Config, &want.Config); err != nil {
			t.Fatal(err)
		}
		for _, p := range kubelet.CheckedPaths() {
			if got, exp := ours.Value(p), want.Value(p); got != exp {
				t.Errorf("%s: %s: nodeguard says %q (%s), kubelet %s %q", c.Name, p, got, ours.Source(p), v.Version, exp)
			}
		}
	}
}
