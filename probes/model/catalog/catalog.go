// Package catalog is the one place each check is described: its id, probe,
// title, default severity, references, remediation, the node condition it
// feeds and its runbook section. Probe packages declare their entries next
// to their code and register them in init; probes read their strings from
// here, agent/kube maps findings to conditions through it, and the README's
// check table and the tests that every check has fixtures derive from it.
package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Conditions are the node condition types a check may feed. They are
// agent/kube's names (a test there keeps the two lists equal); the model
// cannot import the agent, so the names are repeated here as strings.
var Conditions = []string{
	"UnexpectedOpenPorts",
	"InsecureRemoteAccess",
	"InsecureKubeletConfig",
	"KernelHardeningViolation",
	"SecurityUpdatesPending",
	"RuntimeAnomalyDetected",
}

// Kind says which outcomes a check can have.
type Kind string

const (
	// Check passes or fails on the host's state (the default).
	Check Kind = ""
	// Input reports whether an input could be read: pass or error, never fail.
	Input Kind = "input"
	// Notice only says a family of checks does not apply (skip).
	Notice Kind = "notice"
)

// Entry describes one check, or a family of checks generated from policy.
type Entry struct {
	// ID is the finding id, or a pattern ending in ".*" for a family whose
	// ids come from the policy (sysctl.<key>).
	ID    string
	Probe string
	// Title names the check; findings may say more precisely what passed
	// or failed.
	Title string
	// Severity is the severity of a failure when the policy sets none.
	Severity   finding.Severity
	References []string
	// Condition is the node condition the check feeds; Exempt says why it
	// feeds none. Exactly one is set.
	Condition string
	Exempt    string
	// Remediation is what to do when the check fails.
	Remediation string
	// Runbook is the anchor of the docs/runbook.md section that covers it.
	Runbook string
	Kind    Kind
}

// Pattern reports whether the entry stands for a family of ids.
func (e Entry) Pattern() bool { return strings.HasSuffix(e.ID, ".*") }

// Matches reports whether id is the entry's id or one of its family.
func (e Entry) Matches(id string) bool {
	if e.Pattern() {
		return strings.HasPrefix(id, strings.TrimSuffix(e.ID, "*")) && len(id) > len(e.ID)-1
	}
	return id == e.ID
}

var (
	mu      sync.RWMutex
	entries = map[string]Entry{}
)

// Register adds entries. It panics on a duplicate id, as probes.Register
// does on a duplicate probe: both are programming errors found at start.
func Register(es ...Entry) {
	mu.Lock()
	defer mu.Unlock()
	for _, e := range es {
		if _, dup := entries[e.ID]; dup {
			panic("catalog: duplicate check " + e.ID)
		}
		entries[e.ID] = e
	}
}

// Lookup finds the entry of a finding id: its own entry, else the family
// it belongs to.
func Lookup(id string) (Entry, bool) {
	mu.RLock()
	defer mu.RUnlock()
	if e, ok := entries[id]; ok {
		return e, true
	}
	for _, e := range entries {
		if e.Pattern() && e.Matches(id) {
			return e, true
		}
	}
	return Entry{}, false
}

// Get is Lookup for ids a probe declares itself; a missing entry is a
// programming error.
func Get(id string) Entry {
	e, ok := Lookup(id)
	if !ok {
		panic(fmt.Sprintf("catalog: no entry for %q", id))
	}
	return e
}

// All lists every entry, by probe and then id.
func All() []Entry {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Probe != out[j].Probe {
			return out[i].Probe < out[j].Probe
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Probes lists, sorted, the probes with a check that feeds condition.
func Probes(condition string) []string {
	var out []string
	for _, e := range All() {
		if e.Condition == condition && !slices.Contains(out, e.Probe) {
			out = append(out, e.Probe)
		}
	}
	return out
}

// Refs returns a copy of the entry's references followed by more, so a
// finding can append its own without touching the catalogue.
func (e Entry) Refs(more ...string) []string {
	return append(append([]string{}, e.References...), more...)
}

// Remedy is the entry's remediation with its verbs filled by args: the
// numbers and names a probe takes from the policy or the host.
func (e Entry) Remedy(args ...any) string {
	if len(args) == 0 {
		return e.Remediation
	}
	return fmt.Sprintf(e.Remediation, args...)
}

// Finding starts a finding of the entry's check with its title, severity,
// references and remediation; the probe sets status and message.
func (e Entry) Finding(status finding.Status, msg string) finding.Finding {
	return finding.Finding{ID: e.ID, Probe: e.Probe, Status: status, Severity: e.Severity,
		Title: e.Title, Message: msg, Remediation: e.Remediation, References: e.Refs(),
		Evidence: finding.Evidence{}}
}

// ProbeConditions lists the node conditions a probe's checks feed, sorted.
func ProbeConditions(probe string) []string {
	var out []string
	for _, e := range All() {
		if e.Probe == probe && e.Condition != "" && !slices.Contains(out, e.Condition) {
			out = append(out, e.Condition)
		}
	}
	slices.Sort(out)
	return out
}
