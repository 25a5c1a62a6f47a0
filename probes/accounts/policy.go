package accounts

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

// Policy is the `accounts` section of the policy file.
type Policy struct {
	RootPasswordSeverity  finding.Severity `json:"rootPasswordSeverity"`
	EmptyPasswordSeverity finding.Severity `json:"emptyPasswordSeverity"`
	UnshadowedSeverity    finding.Severity `json:"unshadowedSeverity"`
	UID0Allowed           []string         `json:"uid0Allowed"`
	UID0Severity          finding.Severity `json:"uid0Severity"`
	Sudo                  SudoPolicy       `json:"sudo"`
	LockIgnoredSeverity   finding.Severity `json:"lockIgnoredSeverity"`
}

// SudoPolicy judges sudoers grants.
type SudoPolicy struct {
	AllAllowed          []string         `json:"allAllowed"`
	AllSeverity         finding.Severity `json:"allSeverity"`
	NopasswdAllowed     []string         `json:"nopasswdAllowed"`
	NopasswdSeverity    finding.Severity `json:"nopasswdSeverity"`
	NopasswdAllSeverity finding.Severity `json:"nopasswdAllSeverity"`
}

// Validate checks the severities.
func (p *Policy) Validate() error {
	var errs []error
	for _, s := range []struct {
		name string
		sev  finding.Severity
	}{
		{"rootPasswordSeverity", p.RootPasswordSeverity}, {"emptyPasswordSeverity", p.EmptyPasswordSeverity},
		{"unshadowedSeverity", p.UnshadowedSeverity}, {"uid0Severity", p.UID0Severity},
		{"sudo.allSeverity", p.Sudo.AllSeverity}, {"sudo.nopasswdSeverity", p.Sudo.NopasswdSeverity},
		{"sudo.nopasswdAllSeverity", p.Sudo.NopasswdAllSeverity}, {"lockIgnoredSeverity", p.LockIgnoredSeverity},
	} {
		errs = append(errs, s.sev.Check(s.name))
	}
	return errors.Join(errs...)
}
