package kmod

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `kmod` section of the policy file.
type Policy struct {
	Denylist                []Denied         `json:"denylist"`
	LoadedSeverity          finding.Severity `json:"loadedSeverity"`
	NotDisabledSeverity     finding.Severity `json:"notDisabledSeverity"`
	BlacklistOnlySeverity   finding.Severity `json:"blacklistOnlySeverity"`
	RequireModulesDisabled  bool             `json:"requireModulesDisabled"`
	ModulesDisabledSeverity finding.Severity `json:"modulesDisabledSeverity"`
}

// Denied is a module that must not be loadable.
type Denied struct {
	Module     string   `json:"module"`
	Reason     string   `json:"reason"`
	References []string `json:"references,omitempty"`
}

// kubernetesModules are what container runtimes, kube-proxy and CNI plugins
// load; denying one would break the node, so the policy refuses it.
// Compiled on first use: commands that never judge modules do not pay for it.
var kubernetesModules = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(overlay|br_netfilter|bridge|veth|vxlan|geneve|ipip|wireguard|nf_conntrack.*|nf_nat.*|nf_tables|nft_.*|nfnetlink.*|ip_tables|ip6_tables|iptable_.*|ip6table_.*|ip_set.*|ip_vs.*|xt_.*|x_tables|llc|stp|tun|tap|macvlan|ipvlan|dummy|cls_bpf|sch_.*|act_.*)$`)
})

var moduleName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// Validate checks the denylist and severities.
func (p *Policy) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range p.Denylist {
		m := underscores(d.Module)
		switch {
		case !moduleName().MatchString(d.Module):
			errs = append(errs, fmt.Errorf("denylist[%d]: module %q: want a module name (letters, digits, - and _)", i, d.Module))
		case kubernetesModules().MatchString(m):
			errs = append(errs, fmt.Errorf("denylist[%d]: %s is needed by a Kubernetes node (container runtime, kube-proxy or CNI) and cannot be denied", i, d.Module))
		case seen[m]:
			errs = append(errs, fmt.Errorf("denylist[%d]: %s is listed twice", i, d.Module))
		}
		seen[m] = true
		if d.Reason == "" {
			errs = append(errs, fmt.Errorf("denylist[%d]: reason is required", i))
		}
	}
	for _, s := range []struct {
		name string
		sev  finding.Severity
	}{
		{"loadedSeverity", p.LoadedSeverity}, {"notDisabledSeverity", p.NotDisabledSeverity},
		{"blacklistOnlySeverity", p.BlacklistOnlySeverity}, {"modulesDisabledSeverity", p.ModulesDisabledSeverity},
	} {
		errs = append(errs, s.sev.Check(s.name))
	}
	return errors.Join(errs...)
}
