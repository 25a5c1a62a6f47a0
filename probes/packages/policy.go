package packages

import (
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `packages` section of the policy file.
type Policy struct {
	StaleListsAfter         string           `json:"staleListsAfter"`
	SecurityUpdatesSeverity finding.Severity `json:"securityUpdatesSeverity"`
	RebootRequiredSeverity  finding.Severity `json:"rebootRequiredSeverity"`
	StaleListsSeverity      finding.Severity `json:"staleListsSeverity"`
	MaxNames                int              `json:"maxNames"`
	OSVBundle               string           `json:"osvBundle"`
	VulnerabilitySeverity   finding.Severity `json:"vulnerabilitySeverity"`

	staleAfter time.Duration
}

// Validate parses the duration and checks the severities.
func (p *Policy) Validate() error {
	var errs []error
	d, err := time.ParseDuration(p.StaleListsAfter)
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("staleListsAfter %q: want a positive Go duration such as 168h", p.StaleListsAfter))
	}
	p.staleAfter = d
	for name, s := range map[string]finding.Severity{
		"securityUpdatesSeverity": p.SecurityUpdatesSeverity, "rebootRequiredSeverity": p.RebootRequiredSeverity,
		"staleListsSeverity": p.StaleListsSeverity, "vulnerabilitySeverity": p.VulnerabilitySeverity,
	} {
		errs = append(errs, s.Check(name))
	}
	if p.MaxNames < 0 || p.MaxNames > 1000 {
		errs = append(errs, fmt.Errorf("maxNames %d: want 0 to 1000", p.MaxNames))
	}
	return errors.Join(errs...)
}
