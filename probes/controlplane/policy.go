package controlplane

import (
	_ "embed"

	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `controlplane` section of the policy file.
type Policy struct {
	// StrictEtcdDataDirOwner makes CIS 1.1.12 pass only for etcd:etcd by name.
	StrictEtcdDataDirOwner bool `json:"strictEtcdDataDirOwner"`
}
