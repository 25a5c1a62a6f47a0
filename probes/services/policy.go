package services

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `services` section of the policy file.
type Policy struct {
	// Unneeded services must be neither enabled nor running.
	Unneeded []Service `json:"unneeded"`
	// Required services must be enabled (and running, where that is known).
	Required []Service `json:"required"`
}

// Service is a named group of systemd units.
type Service struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Severity    finding.Severity `json:"severity"`
	Units       []string         `json:"units"`
	References  []string         `json:"references,omitempty"`
}

var (
	serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	unitNameRe  = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|path|timer|target)$`)
)

// Validate checks names, units and severities.
func (p *Policy) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, l := range []struct {
		name string
		svcs []Service
	}{{"unneeded", p.Unneeded}, {"required", p.Required}} {
		for i, s := range l.svcs {
			where := fmt.Sprintf("%s[%d] (%s)", l.name, i, s.Name)
			if !serviceName.MatchString(s.Name) {
				errs = append(errs, fmt.Errorf("%s: name: want lower-case letters, digits and -", where))
			} else if seen[s.Name] {
				errs = append(errs, fmt.Errorf("%s: name is used twice", where))
			}
			seen[s.Name] = true
			if len(s.Units) == 0 {
				errs = append(errs, fmt.Errorf("%s: units is required", where))
			}
			for _, u := range s.Units {
				if !unitNameRe.MatchString(u) {
					errs = append(errs, fmt.Errorf("%s: %q is not a service, socket, path, timer or target unit name", where, u))
				}
			}
			errs = append(errs, s.Severity.Check(where+": severity"))
		}
	}
	return errors.Join(errs...)
}
