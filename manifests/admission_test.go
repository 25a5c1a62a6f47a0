package manifests

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/nodeguard/nodeguard/agent/kube"
)

// The admission policy's list of condition types the agent owns must be
// exactly the agent's: a type missing there would make its patches fail.
func TestAdmissionPolicyOwnsTheAgentsConditionTypes(t *testing.T) {
	b := kustomizeBuild(t)
	vap := b.get(t, "ValidatingAdmissionPolicy/nodeguard-own-node-only").(*admissionregistrationv1.ValidatingAdmissionPolicy)
	b.get(t, "ValidatingAdmissionPolicyBinding/nodeguard-own-node-only")
	var owned string
	for _, v := range vap.Spec.Variables {
		if v.Name == "owned" {
			owned = v.Expression
		}
	}
	var listed []string
	for _, f := range strings.Split(strings.Trim(strings.TrimSpace(owned), "[]"), ",") {
		listed = append(listed, strings.Trim(strings.TrimSpace(f), "'"))
	}
	var want []string
	for _, ct := range kube.ConditionTypes {
		want = append(want, string(ct.Type))
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("the policy's owned condition types are %v, the agent's %v", listed, want)
	}
	if vap.Spec.FailurePolicy == nil || *vap.Spec.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy %v, want Fail", vap.Spec.FailurePolicy)
	}
}
