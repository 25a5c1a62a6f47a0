package sysctl

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `sysctl` section of the policy file.
type Policy struct {
	Checks  []Check  `json:"checks"`
	Add     []Check  `json:"add"`
	Disable []string `json:"disable"`
}

// Check is one expected kernel parameter value.
type Check struct {
	Key string `json:"key"`
	// Values: the value must be one of these. Min: an integer at least this.
	Values     []string         `json:"values,omitempty"`
	Min        *int64           `json:"min,omitempty"`
	Severity   finding.Severity `json:"severity"`
	Reason     string           `json:"reason"`
	References []string         `json:"references,omitempty"`
	// Kubelet marks the values the kubelet's protectKernelDefaults demands.
	Kubelet bool `json:"kubelet,omitempty"`
}

var (
	keyRe = regexp.MustCompile(`^[A-Za-z0-9_]+([./][A-Za-z0-9_.:@-]+)*$`)
	// Forwarding carries pod traffic; a node without it is broken, so no
	// policy may demand it off.
	forwardingRe = regexp.MustCompile(`^net[./]ipv4[./]ip_forward$|^net[./]ipv[46][./]conf[./].+[./](mc_)?forwarding$`)
)

// Active returns the checks in force: the built-in ones not disabled, then
// the user's.
func (p *Policy) Active() []Check {
	var out []Check
	for _, c := range p.Checks {
		if !slices.Contains(p.Disable, c.Key) {
			out = append(out, c)
		}
	}
	return append(out, p.Add...)
}

// Validate checks every check and the disable list.
func (p *Policy) Validate() error {
	var errs []error
	keys := map[string]bool{}
	for _, list := range []struct {
		name   string
		checks []Check
	}{{"checks", p.Checks}, {"add", p.Add}} {
		for i, c := range list.checks {
			where := fmt.Sprintf("%s[%d] (%s)", list.name, i, c.Key)
			switch {
			case !keyRe.MatchString(c.Key) || strings.Contains("/"+c.Key+"/", "/../") || strings.Contains("/"+c.Key+"/", "/./"):
				errs = append(errs, fmt.Errorf("%s: key %q is not a sysctl name", where, c.Key))
			case forwardingRe.MatchString(c.Key):
				errs = append(errs, fmt.Errorf("%s: IP forwarding is required on a Kubernetes node and cannot be checked", where))
			}
			if (len(c.Values) > 0) == (c.Min != nil) {
				errs = append(errs, fmt.Errorf("%s: set exactly one of values and min", where))
			}
			errs = append(errs, c.Severity.Check(where+": severity"))
			if c.Reason == "" {
				errs = append(errs, fmt.Errorf("%s: reason is required", where))
			}
			if list.name == "checks" {
				keys[c.Key] = true
			}
		}
	}
	for _, k := range p.Disable {
		if !keys[k] {
			errs = append(errs, fmt.Errorf("disable: %q is not a built-in check", k))
		}
	}
	return errors.Join(errs...)
}
