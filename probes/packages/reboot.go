package packages

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/deb"
	"github.com/nodeguard/nodeguard/probes/packages/osv"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

// kernel is an installed kernel: its package and the `uname -r` it boots as.
type kernel struct {
	pkg, version, release string
}

// installedKernels maps kernel packages to the release strings their
// kernels report, per package manager's naming.
func installedKernels(inv *inventory) []kernel {
	var ks []kernel
	for _, p := range inv.packages {
		switch inv.manager {
		case "dpkg":
			// linux-image-6.1.0-18-amd64, linux-image-unsigned-5.15.0-91-generic;
			// meta packages (linux-image-amd64) and debug images are not kernels.
			rel := strings.TrimPrefix(p.Name, "linux-image-")
			rel = strings.TrimPrefix(rel, "unsigned-")
			if rel == p.Name || rel == "" || rel[0] < '0' || rel[0] > '9' || strings.HasSuffix(rel, "-dbg") {
				continue
			}
			ks = append(ks, kernel{p.Name, p.Version, rel})
		case "apk":
			// linux-lts 6.6.14-r0 boots as 6.6.14-0-lts.
			flavor, ok := strings.CutPrefix(p.Name, "linux-")
			if !ok || !apkKernelFlavors[flavor] {
				continue
			}
			v, r, ok := strings.Cut(p.Version, "-r")
			if !ok {
				continue
			}
			ks = append(ks, kernel{p.Name, p.Version, v + "-" + r + "-" + flavor})
		case "rpm":
			if p.Name == "kernel" || p.Name == "kernel-core" || p.Name == "kernel-default" || p.Name == "kernel-uek" {
				evr := p.Version
				if i := strings.IndexByte(evr, ':'); i >= 0 {
					evr = evr[i+1:]
				}
				ks = append(ks, kernel{p.Name, p.Version, evr + "." + p.Arch})
			}
		}
	}
	return ks
}

// apkKernelFlavors are Alpine's kernel packages (linux-<flavor>).
var apkKernelFlavors = map[string]bool{"lts": true, "virt": true, "edge": true, "stable": true, "rpi": true, "rpi4": true, "rpi2": true}

// newer orders kernel package versions with the package manager's rules.
func newer(manager string, a, b string) bool {
	switch manager {
	case "rpm":
		return rpm.CompareEVR(a, b) > 0
	case "apk":
		return osv.CompareAPK(a, b) > 0
	}
	va, err1 := deb.ParseVersion(a)
	vb, err2 := deb.ParseVersion(b)
	if err1 != nil || err2 != nil {
		return a > b
	}
	return va.Compare(vb) > 0
}

func rebootFinding(pol *Policy, root *hostfs.Root, inv *inventory) finding.Finding {
	f := newFinding(IDRebootRequired)
	e := catalog.Get(IDRebootRequired)
	fail := func(title, msg string) finding.Finding {
		f.Status, f.Severity, f.Title, f.Message = finding.Fail, pol.RebootRequiredSeverity, title, msg
		f.SetBool(ValueRebootRequired, true)
		f.Remediation = e.Remediation
		return f
	}
	running := ""
	if data, err := root.ReadFileLimit("/proc/sys/kernel/osrelease", 4096); err == nil {
		running = strings.TrimSpace(string(data))
		f.Evidence.Set("running_kernel", running)
	}
	ks := installedKernels(inv)
	var newest *kernel
	for i := range ks {
		if newest == nil || newer(inv.manager, ks[i].version, newest.version) {
			newest = &ks[i]
		}
	}
	if newest != nil {
		f.Evidence.Set("newest_kernel", newest.release)
	}
	for _, p := range []string{"/run/reboot-required", "/var/run/reboot-required"} {
		if !root.Exists(p) {
			continue
		}
		f.Evidence.Set("reason", p)
		msg := p + " exists: an update asked for a reboot"
		if data, err := root.ReadFileLimit(p+".pkgs", 1<<20); err == nil {
			pk := strings.Fields(string(data))
			sort.Strings(pk)
			f.Evidence.Set("packages", limitNames(pk, pol.MaxNames))
			if len(pk) > 0 {
				msg += " (" + f.Evidence.Get("packages") + ")"
			}
		}
		return fail(e.Title, msg)
	}
	if running != "" && newest != nil {
		known := false
		for _, k := range ks {
			if k.release == running {
				known = true
			}
		}
		if known {
			if newest.release != running {
				f.Evidence.Set("reason", "kernel")
				return fail(e.Title+": newer kernel installed",
					fmt.Sprintf("the node runs kernel %s but %s (%s %s) is installed", running, newest.release, newest.pkg, newest.version))
			}
			f.Status, f.Severity, f.Title = finding.Pass, finding.Info, "No reboot required"
			f.Message = fmt.Sprintf("the node runs the newest installed kernel, %s", running)
			f.SetBool(ValueRebootRequired, false)
			return f
		}
	}
	f.Status, f.Severity, f.Title = finding.Skip, finding.Info, "Reboot requirement unknown"
	f.Evidence.Set(ValueRebootRequired, "unknown")
	switch {
	case running == "":
		f.Message = "the running kernel cannot be read from /proc and no reboot-required flag is set"
	case newest == nil:
		f.Message = fmt.Sprintf("kernel %s is not from a package and no reboot-required flag is set", running)
	default:
		f.Message = fmt.Sprintf("running kernel %s is not one of the installed kernel packages (newest %s) and no reboot-required flag is set", running, newest.release)
	}
	return f
}
