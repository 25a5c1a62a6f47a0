package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The OpenReports CRDs shipped (the kustomize directory and the chart's
// crds/) are the ones of the module version the agent's types come from.
func TestOpenReportsCRDsFromModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	module := strings.TrimSpace(string(out))
	for _, name := range []string{"openreports.io_clusterreports.yaml", "openreports.io_reports.yaml"} {
		want, err := os.ReadFile(filepath.Join(module, "config", "crd", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{"openreports", filepath.Join(chartDir, "crds")} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("manifests/%s/%s differs from the module's config/crd/%s: make openreports-crds", dir, name, name)
			}
		}
	}
}
