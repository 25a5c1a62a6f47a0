package anomaly

import (
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// PolicySection is the name of the policy file section.
const PolicySection = "runtime"

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(PolicySection, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `runtime` section of the policy file.
type Policy struct {
	// NamespaceLabel adds the pod's namespace as a label of
	// nodeguard_runtime_events_total (bounded by the cluster's namespaces).
	NamespaceLabel bool `json:"namespaceLabel"`
	// Shells and PackageManagers are process names (comm, 15 characters).
	Shells          []string `json:"shells"`
	PackageManagers []string `json:"packageManagers"`
	// WritableDirs and SensitivePaths are absolute paths; one ending in "/"
	// matches everything below it, any other matches exactly.
	WritableDirs   []string `json:"writableDirs"`
	SensitivePaths []string `json:"sensitivePaths"`
	Rules          RuleSet  `json:"rules"`
}

// RuleSet has one field per rule so that a policy file can change one
// setting of one rule and keep the built-in rest.
type RuleSet struct {
	UnexpectedListener        RuleConfig `json:"unexpected-listener"`
	ShellInContainer          RuleConfig `json:"shell-in-container"`
	ExecFromWritableDir       RuleConfig `json:"exec-from-writable-dir"`
	KernelModuleLoad          RuleConfig `json:"kernel-module-load"`
	PtraceAttach              RuleConfig `json:"ptrace-attach"`
	SetuidRoot                RuleConfig `json:"setuid-root"`
	SensitiveFileWrite        RuleConfig `json:"sensitive-file-write"`
	NamespaceEscape           RuleConfig `json:"namespace-escape"`
	BPFLoad                   RuleConfig `json:"bpf-load"`
	PackageManagerInContainer RuleConfig `json:"package-manager-in-container"`
}

// RuleConfig is one rule's settings.
type RuleConfig struct {
	// Enabled defaults to true.
	Enabled  *bool            `json:"enabled,omitempty"`
	Severity finding.Severity `json:"severity"`
	// AllowProcesses are process names (comm) or absolute executable paths.
	AllowProcesses []string `json:"allowProcesses,omitempty"`
	// AllowNamespaces are Kubernetes namespaces whose pods are exempt.
	AllowNamespaces []string `json:"allowNamespaces,omitempty"`
}

// Rule returns the settings of r.
func (p *Policy) Rule(r Rule) *RuleConfig {
	s := &p.Rules
	return [numRules]*RuleConfig{
		UnexpectedListener: &s.UnexpectedListener, ShellInContainer: &s.ShellInContainer,
		ExecFromWritableDir: &s.ExecFromWritableDir, KernelModuleLoad: &s.KernelModuleLoad,
		PtraceAttach: &s.PtraceAttach, SetuidRoot: &s.SetuidRoot, SensitiveFileWrite: &s.SensitiveFileWrite,
		NamespaceEscape: &s.NamespaceEscape, BPFLoad: &s.BPFLoad, PackageManagerInContainer: &s.PackageManagerInContainer,
	}[r]
}

// IsEnabled reports whether the rule is on.
func (c *RuleConfig) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// maxPrefix is the room for one path in the kernel's prefix tables.
const (
	maxPrefix   = 63
	maxPrefixes = 64
	commLen     = 15
)

// Validate checks what the kernel tables can hold.
func (p *Policy) Validate() error {
	var errs []error
	for _, r := range Rules() {
		c := p.Rule(r)
		errs = append(errs, c.Severity.Check("rules."+r.String()+".severity"))
		for _, a := range c.AllowProcesses {
			if a == "" || (strings.Contains(a, "/") && !path.IsAbs(a)) {
				errs = append(errs, fmt.Errorf("rules.%s.allowProcesses: %q: want a process name or an absolute path", r, a))
			}
		}
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"shells", p.Shells}, {"packageManagers", p.PackageManagers}} {
		for _, n := range l.v {
			if n == "" || strings.Contains(n, "/") || len(n) > commLen {
				errs = append(errs, fmt.Errorf("%s: %q: want a process name of 1-%d characters", l.name, n, commLen))
			}
		}
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"writableDirs", p.WritableDirs}, {"sensitivePaths", p.SensitivePaths}} {
		if len(l.v) > maxPrefixes {
			errs = append(errs, fmt.Errorf("%s: %d entries, at most %d fit the kernel table", l.name, len(l.v), maxPrefixes))
		}
		for _, s := range l.v {
			if !path.IsAbs(s) || len(s) > maxPrefix {
				errs = append(errs, fmt.Errorf("%s: %q: want an absolute path of at most %d bytes", l.name, s, maxPrefix))
			}
		}
	}
	return errors.Join(errs...)
}

// matchesWritableDir applies writableDirs as the kernel's trie does: an entry
// ending in "/" matches what lies below it, any other entry only itself.
func (p *Policy) matchesWritableDir(file string) bool {
	for _, d := range p.WritableDirs {
		if file == d || (strings.HasSuffix(d, "/") && strings.HasPrefix(file, d)) {
			return true
		}
	}
	return false
}

// enabledMask is the rule bits the kernel should report.
func (p *Policy) enabledMask() uint32 {
	var m uint32
	for _, r := range Rules() {
		if p.Rule(r).IsEnabled() {
			m |= 1 << r
		}
	}
	return m
}

// commAllowlist maps process names to the rules they are exempt from; it is
// loaded into the kernel's allow_comm map.
func (p *Policy) commAllowlist() map[string]uint32 {
	out := map[string]uint32{}
	for _, r := range Rules() {
		for _, a := range p.Rule(r).AllowProcesses {
			if strings.HasPrefix(a, "/") {
				continue
			}
			out[truncComm(a)] |= 1 << r
		}
	}
	return out
}

func truncComm(s string) string {
	if len(s) > commLen {
		return s[:commLen]
	}
	return s
}
