package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

type kubeadmVerdict struct {
	CIS  string         `json:"cis"`
	Want finding.Status `json:"want"`
	Why  string         `json:"why"`
}

type kubeadmExpectations struct {
	Checks   map[string]kubeadmVerdict `json:"checks"`
	Policies []struct {
		Policy  map[string]any            `json:"policy"`
		Changes map[string]kubeadmVerdict `json:"changes"`
	} `json:"policies"`
}

// TestKubeadmTrees judges stock kubeadm nodes and compares every verdict
// with the reviewed testdata/kubeadm-expectations.yaml. The trees are the
// files kubeadm v1.37.2 itself wrote (the controlplane probe's testdata) with
// the unit files kubeadm's packages install overlaid: kubeadm init writes no
// kubelet.service or 10-kubeadm.conf, and without them nothing starts the
// kubelet.
func TestKubeadmTrees(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ownership checks expect root-owned files: run as root")
	}
	data, err := os.ReadFile("testdata/kubeadm-expectations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var exp kubeadmExpectations
	if err := yaml.UnmarshalStrict(data, &exp); err != nil {
		t.Fatal(err)
	}
	for id, v := range exp.Checks {
		if v.CIS == "" || v.Why == "" || v.Want == "" {
			t.Errorf("%s: cis, want and why are all required", id)
		}
	}
	type run struct {
		name string
		want map[string]kubeadmVerdict
		pol  *policy.Policy
	}
	runs := []run{{name: "built-in policy", want: exp.Checks, pol: policy.Default()}}
	for _, p := range exp.Policies {
		b, err := yaml.Marshal(map[string]any{Name: p.Policy})
		if err != nil {
			t.Fatal(err)
		}
		pol, err := policy.Parse(b, "kubeadm-expectations.yaml")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]kubeadmVerdict{}
		for id, v := range exp.Checks {
			want[id] = v
		}
		for id, v := range p.Changes {
			base, ok := exp.Checks[id]
			if !ok || v.Why == "" {
				t.Fatalf("%s: a change needs a listed check and a reason", id)
			}
			base.Want, base.Why = v.Want, v.Why
			want[id] = base
		}
		name := strings.TrimSpace(strings.ReplaceAll(strings.TrimPrefix(string(b), Name+":"), "\n", " "))
		runs = append(runs, run{name: name, want: want, pol: pol})
	}
	for tree, role := range map[string]probes.Role{"worker": probes.Worker, "control-plane": probes.ControlPlane} {
		dir := probetest.CopyTree(t, "../controlplane/testdata/kubeadm-"+tree)
		// From the packages, verbatim, at the mode they install them with.
		probetest.CopyTreeTo(t, "testdata/kubeadm-worker/usr", filepath.Join(dir, "usr"))
		for _, f := range []string{"usr/lib/systemd/system/kubelet.service", "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"} {
			if err := os.Chmod(filepath.Join(dir, f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range runs {
			t.Run(tree+"/"+r.name, func(t *testing.T) {
				env := &probes.Env{Root: openRoot(t, dir), Policy: r.pol, Role: role, KubeletVersion: "v1.37.2"}
				seen := map[string]bool{}
				for _, f := range (&Probe{}).Run(context.Background(), env) {
					seen[f.ID] = true
					w, ok := r.want[f.ID]
					switch {
					case !ok:
						t.Errorf("%s %s: %s (%s) has no reviewed expectation", f.ID, f.Evidence.Get("file"), f.Status, f.Message)
					case f.Status != w.Want:
						t.Errorf("%s %s: %s, want %s because %s (%s)", f.ID, f.Evidence.Get("file"), f.Status, w.Want, w.Why, f.Message)
					case len(f.References) == 0 || f.References[0] != cis(w.CIS):
						t.Errorf("%s: references %v, the expectation is for %s", f.ID, f.References, w.CIS)
					}
				}
				for id := range r.want {
					if !seen[id] {
						t.Errorf("%s: expected, but no finding", id)
					}
				}
			})
		}
	}
}
