package release

import (
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Finding ids.
const (
	IDKubelet      = "release.kubelet"
	IDControlPlane = "release.control-plane"
)

func init() { catalog.Register(checks...) }

// They feed SecurityUpdatesPending: a release out of support gets no more
// security fixes, and a newer patch release is an update waiting.
var checks = []catalog.Entry{
	{ID: IDKubelet, Probe: Name, Title: "Kubelet release is supported and patched", Severity: finding.High,
		References: []string{"Kubernetes security guidance 5.8", "Kubernetes version skew and support policy"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Upgrade the kubelet to the newest patch release of a supported minor (drain the node first), or replace the node with an image that has it."},
	{ID: IDControlPlane, Probe: Name, Title: "Control-plane release is supported and patched", Severity: finding.High,
		References: []string{"Kubernetes security guidance 5.8", "Kubernetes version skew and support policy"},
		Condition:  "SecurityUpdatesPending", Runbook: "nodeguardsecurityupdatespending",
		Remediation: "Upgrade the control plane to the newest patch release of a supported minor (kubeadm upgrade plan, then kubeadm upgrade apply), one minor at a time."},
}
