// Package release judges release currency (Kubernetes security guidance
// 5.8: run a supported release with its most recent patches): the kubelet's
// version and, on control-plane nodes, the versions of the kube-apiserver,
// kube-controller-manager and kube-scheduler images, against a dated table of
// Kubernetes minor releases generated from the Go module proxy.
package release

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/controlplane"
	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "release"

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is stateless: the versions come from the kubelet and controlplane
// packages' readers.
type Probe struct{}

func (*Probe) Name() string { return Name }

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	now := env.NowUTC()
	out := []finding.Finding{kubeletCheck(env, pol, now)}
	return append(out, controlPlaneChecks(env, pol, now)...)
}

func kubeletCheck(env *probes.Env, pol *Policy, now time.Time) finding.Finding {
	e := catalog.Get(IDKubelet)
	v, from, err := kubelet.HostVersion(env)
	switch {
	case errors.Is(err, kubelet.ErrNotFound):
		return skip(e, "No kubelet on this host", err.Error())
	case err != nil:
		// kubelet.config reports the error; one unreadable input, one error.
		return skip(e, "Kubelet version unknown", "the kubelet could not be read (see kubelet.config): "+err.Error())
	case v == "":
		return skip(e, "Kubelet version unknown", "the kubelet's version could not be read from its executable, and the Node's status was not available")
	}
	f := judge(e, pol, now, "kubelet", v)
	f.Evidence.Set("versionFrom", from)
	return f
}

func controlPlaneChecks(env *probes.Env, pol *Policy, now time.Time) []finding.Finding {
	e := catalog.Get(IDControlPlane)
	if env.NodeRole() != probes.ControlPlane {
		f := skip(e, "Not a control-plane node", "the control-plane release check applies to control-plane nodes only")
		f.Evidence.Set("role", string(env.NodeRole()))
		return []finding.Finding{f}
	}
	imgs, errs := controlplane.Images(env.Root)
	var out []finding.Finding
	for _, err := range errs {
		// The controlplane probe reports the unreadable manifest as its error.
		out = append(out, skip(e, "Control-plane version unknown", "the manifest could not be read (see the controlplane checks): "+err.Error()))
	}
	for _, img := range imgs {
		var f finding.Finding
		if img.Version == "" {
			f = skip(e, img.Component+" version unknown", fmt.Sprintf("%s: image %s has no Kubernetes version in its tag (a digest or a custom tag)", img.Component, img.Image))
		} else {
			f = judge(e, pol, now, img.Component, img.Version)
		}
		f.Evidence.Set("component", img.Component)
		f.Evidence.Set("manifest", img.Manifest)
		f.Evidence.Set("image", img.Image)
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, skip(e, "No control-plane static pods", "no kube-apiserver, kube-controller-manager or kube-scheduler static pod manifest (etcd is versioned apart from Kubernetes and not judged)"))
	}
	return out
}

func skip(e catalog.Entry, title, msg string) finding.Finding {
	f := e.Finding(finding.Skip, msg)
	f.Severity, f.Title, f.Remediation = finding.Info, title, ""
	f.Evidence.Set("tableDate", TableDate)
	return f
}

// judge compares what's version (as given, vendor suffix and all) with the
// table as of now.
func judge(e catalog.Entry, pol *Policy, now time.Time, what, version string) finding.Finding {
	ref := "release table of " + TableDate
	pass := func(msg string) finding.Finding {
		f := e.Finding(finding.Pass, msg)
		f.Severity, f.Remediation = finding.Info, ""
		return f
	}
	fail := func(sev finding.Severity, msg string) finding.Finding {
		f := e.Finding(finding.Fail, msg)
		f.Severity = sev
		return f
	}
	var f finding.Finding
	v, ok := Parse(version)
	first, last := table[0], table[len(table)-1]
	m, known := lookup(v.Minor)
	switch {
	case !ok:
		f = skip(e, what+" version unknown", fmt.Sprintf("%s version %q is not a Kubernetes version v1.MINOR.PATCH", what, version))
	case v.Minor < first.Minor:
		f = fail(pol.OutOfSupportSeverity, fmt.Sprintf("%s %s is out of support: older than every minor the %s knows (v1.%d's support ended on %s)",
			what, version, ref, first.Minor, first.EndOfSupport))
	case v.Minor > last.Minor:
		f = pass(fmt.Sprintf("%s %s is newer than every minor the %s knows (newest v1.%d): the table is older than the version",
			what, version, ref, last.Minor))
	case !known:
		f = skip(e, what+" version not in the table", fmt.Sprintf("%s %s: the %s has no v1.%d", what, version, ref, v.Minor))
	case m.ended(now):
		f = fail(pol.OutOfSupportSeverity, fmt.Sprintf("%s %s is out of support: v1.%d's support ended on %s (%s; %s)",
			what, version, v.Minor, m.EndOfSupport, m.Basis(), ref))
	case v.Patch < m.NewestPatch():
		f = fail(pol.BehindPatchSeverity, fmt.Sprintf("%s %s is %d patch releases behind %s of %s; v1.%d is supported until %s (%s; %s)",
			what, version, m.NewestPatch()-v.Patch, m.Newest, m.NewestDate, v.Minor, m.EndOfSupport, m.Basis(), ref))
		f.Title = what + " is behind on patch releases"
	case v.Patch > m.NewestPatch():
		f = pass(fmt.Sprintf("%s %s is newer than %s, the newest patch the %s knows: the table is older than the version; v1.%d is supported until %s (%s)",
			what, version, m.Newest, ref, v.Minor, m.EndOfSupport, m.Basis()))
	default:
		f = pass(fmt.Sprintf("%s %s is the newest patch release of v1.%d the %s knows; supported until %s (%s)",
			what, version, v.Minor, ref, m.EndOfSupport, m.Basis()))
	}
	f.Evidence.Set("version", version)
	f.Evidence.Set("tableDate", TableDate)
	if known {
		f.Evidence.Set("newestPatch", m.Newest)
		f.Evidence.Set("newestPatchDate", m.NewestDate)
		f.Evidence.Set("released", m.Released)
		f.Evidence.Set("endOfSupport", m.EndOfSupport)
		f.Evidence.Set("endOfSupportBasis", m.Basis())
		f.Evidence.Set("patchesBehind", strconv.Itoa(max(0, m.NewestPatch()-v.Patch)))
	}
	return f
}
