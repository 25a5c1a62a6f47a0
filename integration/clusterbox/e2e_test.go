package clusterbox

import (
	"os"
	"testing"
	"time"
)

// TestClusterBox is `make e2e`: the manifests on a real kubelet. It runs
// only when NODEGUARD_E2E=1 (make e2e sets it), as it takes the machine's
// cgroups and a minute or two.
func TestClusterBox(t *testing.T) {
	if os.Getenv("NODEGUARD_E2E") != "1" {
		t.Skip("the cluster-in-a-box e2e runs with make e2e (NODEGUARD_E2E=1)")
	}
	start := time.Now()
	b := startBox(t)
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))

	// 1. Apply: Running and Ready within 60 s, with the declared securityContext.
	applied := time.Now()
	b.apply()
	pod := b.agentPod(60*time.Second, "")
	t.Logf("1. agent pod %s Running and Ready %s after kubectl apply -k", pod.Name, time.Since(applied).Round(time.Millisecond))
	b.checkSecurityContext(pod)
}
