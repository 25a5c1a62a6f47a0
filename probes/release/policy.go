package release

import (
	_ "embed"
	"errors"
	"fmt"

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
	var errs []error
	check := func(name string, s finding.Severity) {
		if s.Rank() < 0 {
			errs = append(errs, fmt.Errorf("%s %q: want critical, high, medium, low or info", name, s))
		}
	}
	check("outOfSupportSeverity", p.OutOfSupportSeverity)
	check("behindPatchSeverity", p.BehindPatchSeverity)
	return errors.Join(errs...)
}
