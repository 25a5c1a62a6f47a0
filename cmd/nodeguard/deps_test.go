package main

import (
	"os/exec"
	"strings"
	"testing"
)

// agentOnly are packages the light nodeguard must not link: they are what
// nodeguard-agent is for (the metrics endpoint, the API client, OpenReports,
// sd_notify), and their initialisers would run at every one-shot command's
// start (docs/benchmarks.md, "Fourth pass on the ports scan").
var agentOnly = []string{
	"github.com/prometheus/", "k8s.io/client-go/", "k8s.io/component-base/",
	"github.com/openreports/", "github.com/coreos/go-systemd/v22/daemon/",
	"google.golang.org/protobuf/", "github.com/cilium/ebpf/ringbuf/",
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestLightDependencies: the light nodeguard links none of the agent's
// dependencies, and no package from outside the module that the probes
// (which scan runs) do not link themselves. go-systemd's unit parser and
// D-Bus client and cilium/ebpf's socket iterator are there for the probes
// (services, binaries, ports), not for the agent.
func TestLightDependencies(t *testing.T) {
	probes := map[string]bool{}
	for _, p := range goListDeps(t, "./probes/all") {
		probes[p] = true
	}
	for _, p := range goListDeps(t, "./cmd/nodeguard") {
		for _, f := range agentOnly {
			if strings.HasPrefix(p+"/", f) {
				t.Errorf("nodeguard links %s: only nodeguard-agent may", p)
			}
		}
		if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") && !strings.HasPrefix(p, module) && !probes[p] {
			t.Errorf("nodeguard links %s, which no probe needs", p)
		}
	}
}
