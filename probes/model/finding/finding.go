// Package finding is the data every probe produces and every exporter consumes.
// Its JSON form is a public contract (see README "JSON report").
package finding

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// Status is the outcome of one check.
type Status string

const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Error Status = "error" // the check could not be judged (bad input, unreadable file)
	Skip  Status = "skip"  // the check does not apply to this host
)

// Rank orders statuses by the attention they need: Fail 3, Error 2, Skip 1,
// Pass (or anything else) 0. Every output lists the higher first.
func (s Status) Rank() int {
	switch s {
	case Fail:
		return 3
	case Error:
		return 2
	case Skip:
		return 1
	}
	return 0
}

// Severity ranks how much a failing check matters.
type Severity string

const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Severities lists every severity, most severe first.
var Severities = []Severity{Critical, High, Medium, Low, Info}

// Rank orders severities: Critical is 4, Info 0, unknown -1.
// Check is nil for a known severity, else the policy error for field.
func (s Severity) Check(field string) error {
	if s.Rank() < 0 {
		return fmt.Errorf("%s %q: want critical, high, medium, low or info", field, s)
	}
	return nil
}

func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	case Info:
		return 0
	}
	return -1
}

// ParseSeverity accepts the lower-case names used in flags and policies.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(s)
	if v.Rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want critical, high, medium, low or info)", s)
	}
	return v, nil
}

// Finding is the result of one check on one subject.
type Finding struct {
	ID          string   `json:"id"`
	Probe       string   `json:"probe"`
	Status      Status   `json:"status"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Message     string   `json:"message"`
	Remediation string   `json:"remediation"`
	References  []string `json:"references"`
	Evidence    Evidence `json:"evidence"`
	// Values holds, typed, the numbers exporters read, so that they never
	// parse Evidence back. A key is absent when its number is unknown. It is
	// not part of the JSON report: Evidence carries the same numbers as text.
	Values map[string]float64 `json:"-"`
}

// SetInt records n under key both as evidence text and as a typed value,
// so that the two cannot disagree.
func (f *Finding) SetInt(key string, n int64) {
	f.setEvidence(key, strconv.FormatInt(n, 10))
	f.setValue(key, float64(n))
}

// SetBool records b under key as evidence "true" or "false" and as the
// typed value 1 or 0.
func (f *Finding) SetBool(key string, b bool) {
	f.setEvidence(key, strconv.FormatBool(b))
	v := 0.0
	if b {
		v = 1
	}
	f.setValue(key, v)
}

func (f *Finding) setEvidence(key, s string) { f.Evidence.Set(key, s) }

func (f *Finding) setValue(key string, v float64) {
	if f.Values == nil {
		f.Values = map[string]float64{}
	}
	f.Values[key] = v
}

// ErrorFinding reports that a check could not be judged. The message is what an
// SRE reads first, so err should already name the file or input at fault.
func ErrorFinding(probe, id, title string, err error) Finding {
	return Finding{
		ID: id, Probe: probe, Status: Error, Severity: High,
		Title: title, Message: err.Error(),
		References: []string{}, Evidence: Evidence{},
	}
}

// Normalize fills nil collections so the JSON shape is stable ([] and {}, never null).
func (f *Finding) Normalize() {
	if f.References == nil {
		f.References = []string{}
	}
	if f.Evidence == nil {
		f.Evidence = Evidence{}
	}
}

// Summary counts findings by status.
type Summary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// ProbeRun records how one probe ran, for agent-health metrics.
type ProbeRun struct {
	Name            string  `json:"name"`
	DurationSeconds float64 `json:"durationSeconds"`
	Errors          int     `json:"errors"`
}

// Report is one scan of one node.
type Report struct {
	Node       string     `json:"node"`
	Role       string     `json:"role"`
	RoleReason string     `json:"roleReason"`
	HostRoot   string     `json:"hostRoot"`
	ScannedAt  time.Time  `json:"scannedAt"`
	Findings   []Finding  `json:"findings"`
	Summary    Summary    `json:"summary"`
	Probes     []ProbeRun `json:"probes"`
}

// Finalize sorts findings deterministically and recomputes the summary.
// byProbeID is the order of a report's findings.
func byProbeID(a, b Finding) int {
	if c := cmp.Compare(a.Probe, b.Probe); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Final tells whether Finalize would leave fs as it is: in report order,
// every finding naming its probe, with references and evidence not nil.
func Final(fs []Finding) bool {
	for i := range fs {
		f := &fs[i]
		if f.Probe == "" || f.References == nil || f.Evidence == nil || i > 0 && byProbeID(fs[i-1], *f) > 0 {
			return false
		}
	}
	return true
}

func (r *Report) Finalize() {
	// Findings usually arrive grouped by probe and id already (10,000 of one
	// listener check): checking costs one pass, sorting many.
	if !slices.IsSortedFunc(r.Findings, byProbeID) {
		slices.SortStableFunc(r.Findings, byProbeID)
	}
	r.Summary = Summary{}
	for i := range r.Findings {
		r.Findings[i].Normalize()
		switch r.Findings[i].Status {
		case Pass:
			r.Summary.Pass++
		case Fail:
			r.Summary.Fail++
		case Error:
			r.Summary.Error++
		case Skip:
			r.Summary.Skip++
		}
	}
	sort.Slice(r.Probes, func(i, j int) bool { return r.Probes[i].Name < r.Probes[j].Name })
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Probes == nil {
		r.Probes = []ProbeRun{}
	}
}

// FailingAtOrAbove reports whether any failing finding is at least sev.
// Error findings count too: a check that could not run must not pass a CI gate.
func (r *Report) FailingAtOrAbove(sev Severity) bool {
	for _, f := range r.Findings {
		if (f.Status == Fail || f.Status == Error) && f.Severity.Rank() >= sev.Rank() {
			return true
		}
	}
	return false
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with "…". Exporters bound the text they send (condition messages, report
// results) with it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
