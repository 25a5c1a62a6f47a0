// Package kmod audits kernel modules: denied modules that are loaded, built
// in, or loadable because modprobe.d does not disable them, and whether
// module loading is switched off altogether.
package kmod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "kmod"

// Finding ids of this probe.
const (
	IDModuleLoading = "kmod.module-loading"
	IDDenied        = "kmod.denied-module"
	IDConfig        = "kmod.modprobe-config"
)

const refGuidance = "Kubernetes security guidance 5.3.1"

// disableConf is how to stop a module from loading; "%[1]s" is its name.
const disableConf = "Create /etc/modprobe.d/%[1]s.conf with \"install %[1]s /bin/false\" and \"blacklist %[1]s\""

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is the kmod probe.
type Probe struct{}

func (*Probe) Name() string { return Name }

// Kernel is what the kernel says about modules.
type Kernel struct {
	// NoModules: the kernel was built without loadable module support.
	NoModules bool
	// Disabled: kernel.modules_disabled is 1; nothing more can be loaded.
	Disabled bool
	Loaded   map[string]bool
	Builtin  map[string]bool
	Release  string
}

// ReadKernel reads /proc/modules, kernel.modules_disabled, the kernel
// command line and modules.builtin.
func ReadKernel(root *hostfs.Root) (*Kernel, error) {
	k := &Kernel{Loaded: map[string]bool{}, Builtin: map[string]bool{}}
	if rel, err := root.ReadFileLimit("/proc/sys/kernel/osrelease", 256); err == nil {
		k.Release = strings.TrimSpace(string(rel))
	}
	err := root.Lines("/proc/modules", func(line []byte) bool {
		if name, _, _ := bytes.Cut(line, []byte{' '}); len(name) > 0 {
			k.Loaded[string(name)] = true
		}
		return true
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Without CONFIG_MODULES the kernel has neither /proc/modules nor
		// kernel.modules_disabled; a host /proc that is not there at all
		// is a mounting problem instead.
		if !root.Exists("/proc/sys/kernel") {
			return nil, fmt.Errorf("the host's /proc is not available under the host root (%s/proc/sys/kernel is missing)", root.Path())
		}
		k.NoModules = true
		return k, nil
	case err != nil:
		return nil, err
	}
	v, err := root.ReadFileLimit("/proc/sys/kernel/modules_disabled", 64)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k.Disabled = strings.TrimSpace(string(v)) == "1"
	if k.Release != "" {
		// A missing modules.builtin (no /lib/modules for this kernel, as in
		// many containers' views of the host) only means we cannot tell.
		root.Lines("/lib/modules/"+k.Release+"/modules.builtin", func(line []byte) bool {
			base := line[bytes.LastIndexByte(line, '/')+1:]
			if n, ok := bytes.CutSuffix(base, []byte(".ko")); ok {
				k.Builtin[underscores(string(n))] = true
			}
			return true
		})
	}
	return k, nil
}

// kernelCmdline returns the modules the kernel command line blacklists:
// module_blacklist= (enforced by the kernel itself) and modprobe.blacklist=
// (read by kmod, like a blacklist line).
func kernelCmdline(root *hostfs.Root) (kernel, modprobe map[string]bool) {
	kernel, modprobe = map[string]bool{}, map[string]bool{}
	b, err := root.ReadFileLimit("/proc/cmdline", 64<<10)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var set map[string]bool
		switch k {
		case "module_blacklist":
			set = kernel
		case "modprobe.blacklist":
			set = modprobe
		default:
			continue
		}
		for _, m := range strings.Split(v, ",") {
			if m != "" {
				set[underscores(m)] = true
			}
		}
	}
	return
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	k, err := ReadKernel(env.Root)
	if err != nil {
		return []finding.Finding{finding.ErrorFinding(Name, IDModuleLoading, "Kernel module state could not be read", err)}
	}
	var out []finding.Finding
	out = append(out, judgeLoading(pol, k))
	cfg := ReadConfig(env.Root)
	cfgE := catalog.Get(IDConfig)
	for _, e := range cfg.Errors {
		f := finding.ErrorFinding(Name, IDConfig, "modprobe configuration could not be fully read", e)
		f.Severity = cfgE.Severity
		var bl *BadLine
		if errors.As(e, &bl) {
			f.Evidence = finding.EvidenceOf(map[string]string{"file": bl.File, "line": strconv.Itoa(bl.Line)})
			f.Remediation = cfgE.Remediation
		}
		out = append(out, f)
	}
	kernelBL, cmdlineBL := kernelCmdline(env.Root)
	for _, d := range pol.Denylist {
		out = append(out, judgeModule(pol, k, cfg, d, kernelBL, cmdlineBL))
	}
	return out
}

func judgeLoading(pol *Policy, k *Kernel) finding.Finding {
	e := catalog.Get(IDModuleLoading)
	f := finding.Finding{ID: IDModuleLoading, Probe: Name, Status: finding.Pass, Severity: finding.Info,
		References: e.Refs(), Evidence: finding.EvidenceOf(map[string]string{"kernelRelease": k.Release})}
	switch {
	case k.NoModules:
		f.Title = "The kernel has no loadable module support"
		f.Message = "the kernel was built without loadable module support (no /proc/modules): no module can ever be loaded"
		f.Evidence.Set("moduleLoading", "unsupported")
	case k.Disabled:
		f.Title = "Module loading is disabled"
		f.Message = fmt.Sprintf("kernel.modules_disabled is 1: no module can be loaded until reboot (%d loaded)", len(k.Loaded))
		f.Evidence.Set("moduleLoading", "disabled")
	default:
		f.Evidence.Set("moduleLoading", "enabled")
		f.Title = "Module loading is enabled"
		f.Message = fmt.Sprintf("kernel.modules_disabled is 0: root can load modules (%d loaded)", len(k.Loaded))
		if pol.RequireModulesDisabled {
			f.Status, f.Severity = finding.Fail, pol.ModulesDisabledSeverity
			f.Remediation = e.Remediation
		} else {
			f.Message += "; the policy does not require kernel.modules_disabled"
		}
	}
	f.Evidence.Set("loaded", strconv.Itoa(len(k.Loaded)))
	return f
}

func judgeModule(pol *Policy, k *Kernel, cfg *Config, d Denied, kernelBL, cmdlineBL map[string]bool) finding.Finding {
	m := underscores(d.Module)
	e := catalog.Get(IDDenied)
	f := finding.Finding{
		ID: IDDenied, Probe: Name,
		References: append(append([]string{}, d.References...), e.References...),
		Evidence:   finding.EvidenceOf(map[string]string{"module": d.Module, "reason": d.Reason}),
	}
	dis := cfg.For(m)
	if dis.Blacklist != nil {
		f.Evidence.Set("blacklist", fmt.Sprintf("%s:%d", dis.Blacklist.File, dis.Blacklist.Line))
	} else if cmdlineBL[m] {
		f.Evidence.Set("blacklist", "/proc/cmdline modprobe.blacklist")
	}
	if dis.Install != nil {
		f.Evidence.Set("install", fmt.Sprintf("%s (%s:%d)", dis.Install.Arg, dis.Install.File, dis.Install.Line))
	}
	switch {
	case k.NoModules:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Denied module cannot be loaded: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) cannot be loaded: the kernel has no loadable module support", d.Module, d.Reason)
		f.Evidence.Set("state", "no-module-support")
	case k.Loaded[m]:
		f.Status, f.Severity = finding.Fail, pol.LoadedSeverity
		f.Title = "Denied module is loaded: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is loaded", d.Module, d.Reason)
		f.Remediation = e.Remedy(m)
		f.Evidence.Set("state", "loaded")
	case k.Builtin[m]:
		f.Status, f.Severity = finding.Fail, pol.NotDisabledSeverity
		f.Title = "Denied module is built into the kernel: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is built into kernel %s, so modprobe.d cannot disable it", d.Module, d.Reason, k.Release)
		f.Remediation = "Use a kernel that builds it as a module (or not at all)."
		f.Evidence.Set("state", "builtin")
	case kernelBL[m]:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Denied module is disabled: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is not loaded and the kernel refuses to load it (module_blacklist= on the kernel command line)", d.Module, d.Reason)
		f.Evidence.Set("state", "kernel-blacklisted")
	case k.Disabled:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Denied module cannot be loaded: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is not loaded, and kernel.modules_disabled=1 stops it from being loaded", d.Module, d.Reason)
		f.Evidence.Set("state", "modules-disabled")
	case dis.Disabled():
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Denied module is disabled: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is not loaded and modprobe runs %q instead of loading it (%s line %d)", d.Module, d.Reason, dis.Install.Arg, dis.Install.File, dis.Install.Line)
		f.Evidence.Set("state", "disabled")
	case dis.Blacklist != nil || cmdlineBL[m]:
		f.Status, f.Severity = finding.Fail, pol.BlacklistOnlySeverity
		f.Title = "Denied module is only blacklisted: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is blacklisted, which stops automatic loading by alias, but an explicit \"modprobe %s\" or a module that depends on it still loads it", d.Module, d.Reason, m)
		f.Remediation = fmt.Sprintf("Add \"install %s /bin/false\" to /etc/modprobe.d/%s.conf.", m, m)
		f.Evidence.Set("state", "blacklisted")
	default:
		f.Status, f.Severity = finding.Fail, pol.NotDisabledSeverity
		f.Title = "Denied module can be loaded: " + d.Module
		f.Message = fmt.Sprintf("%s (%s) is not loaded, but nothing stops it from being loaded", d.Module, d.Reason)
		if dis.Install != nil {
			f.Message = fmt.Sprintf("%s (%s) is not loaded, and its install command %q (%s line %d) does not stop it from being loaded", d.Module, d.Reason, dis.Install.Arg, dis.Install.File, dis.Install.Line)
		}
		f.Remediation = fmt.Sprintf(disableConf, m) + "."
		f.Evidence.Set("state", "loadable")
	}
	return f
}
