package clusterbox

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	n, err := b.admin.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	must(t, err)
	for _, c := range n.Status.Conditions {
		t.Logf("%s=%s %s", c.Type, c.Status, c.Reason)
	}
	_ = corev1.NodeReady
}
