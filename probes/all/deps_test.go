package all

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the packages no probe may link: client-go and Prometheus
// by the project's rules, and k8s.io/component-base, whose metrics registry
// brings Prometheus and its goroutines into every command's start-up.
var forbidden = []string{"k8s.io/client-go/", "github.com/prometheus/", "k8s.io/component-base/"}

func TestProbesDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/nodeguard/nodeguard/probes/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(p+"/", f) {
				t.Errorf("the probes link %s", p)
			}
		}
	}
}
