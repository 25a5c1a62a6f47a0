// Package kube publishes nodeguard's verdicts on the agent's own Node: one
// condition per family of checks (status True means a problem, as in
// node-problem-detector) and an Event whenever a problem appears or is
// resolved. It is an exporter: it only reads reports, never the host.
package kube

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	// Every probe, so that the catalogue (which checks feed which condition)
	// is whole wherever conditions are computed.
	_ "github.com/nodeguard/nodeguard/probes/all"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// ConditionType describes one node condition the agent owns. The type names
// are a public contract: alerts and dashboards select on them.
type ConditionType struct {
	Type corev1.NodeConditionType
	// ProblemReason and OKReason are the reasons for status True and False;
	// they double as the reasons of the transition Events.
	ProblemReason, OKReason string
}

// Condition type names.
const (
	UnexpectedOpenPorts      corev1.NodeConditionType = "UnexpectedOpenPorts"
	InsecureRemoteAccess     corev1.NodeConditionType = "InsecureRemoteAccess"
	InsecureKubeletConfig    corev1.NodeConditionType = "InsecureKubeletConfig"
	KernelHardeningViolation corev1.NodeConditionType = "KernelHardeningViolation"
	SecurityUpdatesPending   corev1.NodeConditionType = "SecurityUpdatesPending"
	RuntimeAnomalyDetected   corev1.NodeConditionType = "RuntimeAnomalyDetected"
)

// ReasonCheckErrors is the reason of a condition whose checks could not be
// judged (status Unknown).
const ReasonCheckErrors = "ChecksCouldNotRun"

// ConditionTypes lists every condition the agent owns, in patch order. Which
// checks feed which condition is in the check catalogue (probes/model/catalog),
// so a check that lands later feeds its condition without a change here.
var ConditionTypes = []ConditionType{
	{Type: UnexpectedOpenPorts,
		ProblemReason: "UnexpectedPortsOpen", OKReason: "NoUnexpectedPorts"},
	{Type: InsecureRemoteAccess,
		ProblemReason: "InsecureRemoteAccessSettings", OKReason: "RemoteAccessHardened"},
	{Type: InsecureKubeletConfig,
		ProblemReason: "InsecureComponentSettings", OKReason: "ComponentSettingsHardened"},
	{Type: KernelHardeningViolation,
		ProblemReason: "KernelHardeningMissing", OKReason: "KernelHardened"},
	{Type: SecurityUpdatesPending,
		ProblemReason: "SecurityUpdatesAvailable", OKReason: "NoSecurityUpdates"},
	{Type: RuntimeAnomalyDetected,
		ProblemReason: "RuntimeAnomaly", OKReason: "NoRuntimeAnomaly"},
}

// Probes are the probes with a check that feeds the condition; it exists
// only while at least one of them ran.
func (ct ConditionType) Probes() []string { return catalog.Probes(string(ct.Type)) }

func conditionType(t corev1.NodeConditionType) *ConditionType {
	for i := range ConditionTypes {
		if ConditionTypes[i].Type == t {
			return &ConditionTypes[i]
		}
	}
	return nil
}

// Owned reports whether the agent owns condition type t.
func Owned(t corev1.NodeConditionType) bool { return conditionType(t) != nil }

// MaxMessageLen bounds a condition message (in bytes) so a host with hundreds
// of failing checks cannot bloat the Node object every client watches.
const MaxMessageLen = 512

// maxItemLen bounds the part of the message one check takes.
const maxItemLen = 160

// topChecks is how many failing checks the message names.
const topChecks = 3

// Verdict is what a condition should say, before the timestamps are set.
type Verdict struct {
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

// Verdicts derives the desired conditions from a report. Conditions whose
// probes did not run (turned off, or not part of this build) are absent, so
// the caller removes them from the Node instead of leaving them stale.
// RuntimeAnomalyDetected is not derived from reports; see Manager.SetRuntimeAnomaly.
func Verdicts(rep *finding.Report) map[corev1.NodeConditionType]Verdict {
	ran := map[string]bool{}
	for _, p := range rep.Probes {
		ran[p.Name] = true
	}
	// One catalogue lookup per finding, not one per finding and condition:
	// a node with 10,000 listeners has as many findings.
	type problems struct{ fails, errs []finding.Finding }
	byCond := map[corev1.NodeConditionType]*problems{}
	for _, f := range rep.Findings {
		failing := f.Status == finding.Fail && f.Severity.Rank() > finding.Info.Rank()
		if !failing && f.Status != finding.Error {
			continue
		}
		e, ok := catalog.Lookup(f.ID)
		if !ok || e.Condition == "" {
			continue
		}
		t := corev1.NodeConditionType(e.Condition)
		if byCond[t] == nil {
			byCond[t] = &problems{}
		}
		if failing {
			byCond[t].fails = append(byCond[t].fails, f)
		} else {
			byCond[t].errs = append(byCond[t].errs, f)
		}
	}
	out := map[corev1.NodeConditionType]Verdict{}
	for _, ct := range ConditionTypes {
		mine := map[string]bool{}
		for _, p := range ct.Probes() {
			if ran[p] {
				mine[p] = true
			}
		}
		if len(mine) == 0 {
			continue
		}
		var fails, errs []finding.Finding
		if pr := byCond[ct.Type]; pr != nil {
			fails, errs = pr.fails, pr.errs
		}
		switch {
		case len(fails) > 0:
			out[ct.Type] = Verdict{corev1.ConditionTrue, ct.ProblemReason, summarize("failing", fails)}
		case len(errs) > 0:
			out[ct.Type] = Verdict{corev1.ConditionUnknown, ReasonCheckErrors, summarize("unjudged", errs)}
		default:
			out[ct.Type] = Verdict{corev1.ConditionFalse, ct.OKReason, "no failing checks (" + probeList(mine) + ")"}
		}
	}
	return out
}

func probeList(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return "probes: " + strings.Join(names, ", ")
}

// summarize names the most severe checks first; the order is deterministic
// so an unchanged host yields an unchanged message (and no patch).
func summarize(kind string, fs []finding.Finding) string {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Message < b.Message
	})
	noun := "checks"
	if len(fs) == 1 {
		noun = "check"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s: ", len(fs), kind, noun)
	shown := 0
	for i, f := range fs {
		if i == topChecks {
			break
		}
		item := fmt.Sprintf("[%s] %s", f.Severity, f.Title)
		if f.Message != "" {
			item += ": " + f.Message
		}
		item = finding.Truncate(item, maxItemLen)
		sep := ""
		if i > 0 {
			sep = "; "
		}
		// Keep room for the "(+N more)" suffix.
		if b.Len()+len(sep)+len(item) > MaxMessageLen-16 {
			break
		}
		b.WriteString(sep + item)
		shown++
	}
	if rest := len(fs) - shown; rest > 0 {
		fmt.Fprintf(&b, " (+%d more)", rest)
	}
	return finding.Truncate(b.String(), MaxMessageLen)
}
