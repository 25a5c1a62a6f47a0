package release

import (
	_ "embed"
	"errors"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `release` section of the policy file.
type Policy struct {
	OutOfSupportSeverity finding.Severity `json:"outOfSupportSeverity"`
	BehindPatchSeverity  finding.Severity `json:"behindPatchSeverity"`
}

// Validate checks the severities.
func (p *Policy) Validate() error {
	return errors.Join(p.OutOfSupportSeverity.Check("outOfSupportSeverity"), p.BehindPatchSeverity.Check("behindPatchSeverity"))
}
