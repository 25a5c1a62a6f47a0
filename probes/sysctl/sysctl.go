// Package sysctl checks kernel parameters under /proc/sys against a
// Kubernetes-aware hardening profile, including the values the kubelet's
// protectKernelDefaults requires. IP forwarding, which a node needs, is
// never judged.
package sysctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "sysctl"

const refGuidance = "Kubernetes security guidance 5.3.1"

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is the sysctl probe.
type Probe struct{}

func (*Probe) Name() string { return Name }

// ID is the finding id of the check of key.
func ID(key string) string { return "sysctl." + key }

// Path is the /proc/sys file of a sysctl key. As with sysctl(8), a key with
// a "/" is already a path (needed for interface names with dots).
func Path(key string) string {
	if strings.Contains(key, "/") {
		return "/proc/sys/" + strings.TrimPrefix(key, "/")
	}
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// Read returns a parameter's value with white space collapsed, as sysctl
// prints it.
func Read(root *hostfs.Root, key string) (string, error) {
	b, err := root.ReadFileLimit(Path(key), 64<<10)
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	checks := pol.Active()
	out := make([]finding.Finding, 0, len(checks))
	for _, c := range checks {
		v, err := Read(env.Root, c.Key)
		dangling := false
		if errors.Is(err, fs.ErrNotExist) {
			// /proc/sys has no symlinks: one that leads nowhere (or out of
			// the host root) is a broken host tree, not a missing knob.
			if fi, lerr := env.Root.Lstat(Path(c.Key)); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				dangling = true
				err = fmt.Errorf("%s: symlink to a file that does not exist under the host root: %w", Path(c.Key), err)
			}
		}
		out = append(out, judge(c, v, err, dangling))
	}
	return out
}

func text(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func (c Check) want() string {
	if c.Min != nil {
		return ">= " + strconv.FormatInt(*c.Min, 10)
	}
	return strings.Join(c.Values, " or ")
}

func judge(c Check, value string, err error, dangling bool) finding.Finding {
	entry := catalog.Get(ID(c.Key))
	f := finding.Finding{
		ID: ID(c.Key), Probe: Name,
		References: append(slices.Clone(c.References), entry.References...),
		Evidence:   finding.EvidenceOf(map[string]string{"key": c.Key, "file": Path(c.Key), "want": c.want()}),
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !dangling {
			f.Status, f.Severity = finding.Skip, finding.Info
			f.Title = c.Key + " does not exist on this kernel"
			f.Message = fmt.Sprintf("%s (%s) is not a parameter of this kernel", c.Key, c.Reason)
			return f
		}
		e := finding.ErrorFinding(Name, f.ID, c.Key+" could not be read", err)
		e.References, e.Evidence = f.References, f.Evidence
		return e
	}
	if !text(value) {
		e := finding.ErrorFinding(Name, f.ID, c.Key+" is not text",
			fmt.Errorf("%s: the value holds binary data", Path(c.Key)))
		e.References, e.Evidence = f.References, f.Evidence
		return e
	}
	f.Evidence.Set("value", value)
	ok := slices.Contains(c.Values, value)
	if c.Min != nil {
		n, perr := strconv.ParseInt(value, 10, 64)
		if perr != nil {
			e := finding.ErrorFinding(Name, f.ID, c.Key+" is not a number",
				fmt.Errorf("%s: value %.40q is not an integer", Path(c.Key), value))
			e.References, e.Evidence = f.References, f.Evidence
			return e
		}
		ok = n >= *c.Min
	}
	if ok {
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = fmt.Sprintf("%s = %s", c.Key, value)
		f.Message = fmt.Sprintf("%s is %s (%s)", c.Key, value, c.Reason)
		return f
	}
	f.Status, f.Severity = finding.Fail, c.Severity
	f.Title = fmt.Sprintf("%s is %s, want %s", c.Key, value, c.want())
	f.Message = fmt.Sprintf("%s is %s, want %s: %s", c.Key, value, c.want(), c.Reason)
	var target string
	if c.Min != nil {
		target = strconv.FormatInt(*c.Min, 10)
	} else {
		target = c.Values[0]
	}
	f.Remediation = entry.Remedy(c.Key, target)
	if c.Kubelet {
		f.Message += fmt.Sprintf("; a kubelet with protectKernelDefaults: true refuses to start until %s is %s", c.Key, target)
	}
	return f
}
