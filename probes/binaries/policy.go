package binaries

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

// Policy is the `binaries` section of the policy file.
type Policy struct {
	VulnerabilitySeverity finding.Severity `json:"vulnerabilitySeverity"`
	MaxBinaryMiB          int64            `json:"maxBinaryMiB"`
	Directories           []string         `json:"directories"`
}

// Validate checks the severity and the size limit.
func (p *Policy) Validate() error {
	errs := []error{p.VulnerabilitySeverity.Check("vulnerabilitySeverity")}
	if p.MaxBinaryMiB <= 0 || p.MaxBinaryMiB > 4096 {
		errs = append(errs, fmt.Errorf("maxBinaryMiB %d: want 1 to 4096", p.MaxBinaryMiB))
	}
	return errors.Join(errs...)
}
