package kubeenv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// InstallCRDs creates the CustomResourceDefinitions in the YAML files (as
// the project ships them) and waits until the API server serves every
// group-version they define.
func (e *Env) InstallCRDs(t testing.TB, files ...string) {
	t.Helper()
	client := e.Client(t, e.Admin)
	rc := client.Discovery().RESTClient()
	ctx := context.Background()
	var served []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			var doc json.RawMessage
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err) // not fewer CRDs and a puzzling failure later
			}
			var crd struct {
				Kind string `json:"kind"`
				Spec struct {
					Group    string `json:"group"`
					Versions []struct {
						Name   string `json:"name"`
						Served bool   `json:"served"`
					} `json:"versions"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(doc, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
				t.Fatalf("%s: not a CustomResourceDefinition (%v)", file, err)
			}
			err := rc.Post().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions").
				SetHeader("Content-Type", "application/json").Body([]byte(doc)).Do(ctx).Error()
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("%s: creating the CRD: %v", file, err)
			}
			for _, v := range crd.Spec.Versions {
				if v.Served {
					served = append(served, "/apis/"+crd.Spec.Group+"/"+v.Name)
				}
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, path := range served {
		for {
			err := rc.Get().AbsPath(path).Do(ctx).Error()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not served a minute after its CRD was created: %v", path, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ControllerManagerArgs are kube-controller-manager's flags for this
// control plane, as admin, with the named controllers (e.g. "*,-nodeipam").
func (e *Env) ControllerManagerArgs(controllers ...string) []string {
	return []string{
		"--kubeconfig=" + e.Admin,
		"--service-account-private-key-file=" + e.Path("sa.key"),
		"--root-ca-file=" + e.Path("ca.crt"),
		"--use-service-account-credentials=false",
		"--leader-elect=false", "--secure-port=0",
		"--controllers=" + strings.Join(controllers, ","),
	}
}

// StartControllerManager runs kube-controller-manager with only the named
// controllers (e.g. garbage-collector-controller) until the test ends. Its
// binary comes from the same build as the API server (build.sh node).
func (e *Env) StartControllerManager(t testing.TB, controllers ...string) {
	t.Helper()
	bin := filepath.Join(e.bin, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kube-controller-manager is not built (%v): make kube-binaries", err)
		}
		t.Skipf("kube-controller-manager is not built (%v): run integration/kubeenv/build.sh node", err)
	}
	p := startProc(t, bin, filepath.Join(e.dir, "controller-manager.log"), e.ControllerManagerArgs(controllers...)...)
	t.Cleanup(p.stop)
	// Fail early if it died on its flags; the test waits for what the
	// controllers do.
	time.Sleep(500 * time.Millisecond)
	if p.exited() {
		t.Fatalf("kube-controller-manager exited: %s", p.logTail())
	}
}
