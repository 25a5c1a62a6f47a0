// Package fleet summarizes what the agents of a cluster published: each
// node's OpenReports ClusterReport, or where a node has none, the node
// conditions the agent keeps on it. It is what `nodeguard report` prints.
// It is pure: it reads the objects it is given, never the host or the API.
package fleet

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Source is where a node's verdict was read from.
type Source string

const (
	// FromReport: the node's ClusterReport (every failing check by id).
	FromReport Source = "report"
	// FromConditions: no report; the agent's node conditions (one verdict
	// per family of checks, with the most severe failing check's severity).
	FromConditions Source = "conditions"
	// FromNone: neither; the agent has not published anything for the node.
	FromNone Source = "none"
)

// FailOnNone is the FailOn of a summary that judges no node.
const FailOnNone = "none"

// Input is what the summary is made from.
type Input struct {
	Nodes []corev1.Node
	// Reports are ClusterReports; those the agent did not write (by name,
	// label and scope) are ignored, and so is a report whose scope is an
	// earlier Node of the same name (another UID).
	Reports []v1alpha1.ClusterReport
	// OpenReportsServed tells whether the API serves ClusterReports.
	OpenReportsServed bool
	// FailOn is the severity at or above which a failing or erroring check
	// puts a node in AtOrAboveFailOn; "" judges none.
	FailOn finding.Severity
	Now    time.Time
}

// Fleet is the summary; its JSON encoding is a public contract (README
// "Fleet report").
type Fleet struct {
	GeneratedAt       time.Time `json:"generatedAt"`
	FailOn            string    `json:"failOn"`
	OpenReportsServed bool      `json:"openReportsServed"`
	Summary           Summary   `json:"summary"`
	// AtOrAboveFailOn names the nodes with a failing or erroring check at
	// or above FailOn, in Nodes order.
	AtOrAboveFailOn []string `json:"atOrAboveFailOn"`
	Nodes           []Node   `json:"nodes"`
	Checks          []Check  `json:"checks"`
}

// Summary counts nodes.
type Summary struct {
	Nodes          int `json:"nodes"`
	FromReports    int `json:"fromReports"`
	FromConditions int `json:"fromConditions"`
	WithoutData    int `json:"withoutData"`
	FailingNodes   int `json:"failingNodes"`
	ErroringNodes  int `json:"erroringNodes"`
}

// Node is one node's verdict.
type Node struct {
	Name   string `json:"name"`
	Source Source `json:"source"`
	// Role is the role the node was judged as (reports only).
	Role string `json:"role"`
	// Failing and Errors count failing and erroring checks. From a
	// report: its summary (every finding, also those the size bound left
	// out of its results); from conditions: the counts their messages
	// give (which leave out failing info checks).
	Failing int `json:"failing"`
	Errors  int `json:"errors"`
	// Worst and WorstError are the highest severity of a failing and of an
	// erroring check; "" when there is none.
	Worst      finding.Severity `json:"worst"`
	WorstError finding.Severity `json:"worstError"`
	// Omitted counts the report's findings left out by its size bound.
	Omitted int `json:"omitted"`
	// LastHeartbeat is the newest lastHeartbeatTime of the agent's node
	// conditions (re-stamped every --heartbeat-period while the agent
	// runs): how long ago the agent was last heard from.
	LastHeartbeat *time.Time `json:"lastHeartbeat"`
	// ReportChangedAt is the scan time of the report's results: the agent
	// rewrites a report only when its findings change, so it is when they
	// last changed, not when the node was last scanned.
	ReportChangedAt *time.Time `json:"reportChangedAt"`
	// RuntimeAnomaly is the message of a True RuntimeAnomalyDetected.
	RuntimeAnomaly string `json:"runtimeAnomaly"`
	// Problems are the failing and erroring checks (from a report, one per
	// result, most severe first) or conditions (one per condition).
	Problems []Problem `json:"problems"`
}

// Problem is a failing or erroring check, or a condition that stands for
// Checks of them.
type Problem struct {
	Status   finding.Status   `json:"status"` // fail or error
	Severity finding.Severity `json:"severity"`
	// Check and Probe name a check (from a report); Condition a node
	// condition (from conditions).
	Check     string `json:"check"`
	Probe     string `json:"probe"`
	Condition string `json:"condition"`
	Checks    int    `json:"checks"`
	Title     string `json:"title"`
	Message   string `json:"message"`
}

// Check is one check across the nodes judged from reports.
type Check struct {
	ID    string `json:"id"`
	Probe string `json:"probe"`
	Title string `json:"title"`
	// Severity is the highest it failed or erred with on any node.
	Severity      finding.Severity `json:"severity"`
	FailingNodes  []string         `json:"failingNodes"`
	ErroringNodes []string         `json:"erroringNodes"`
}

// Summarize judges every node of in.
func Summarize(in Input) *Fleet {
	f := &Fleet{
		GeneratedAt: in.Now.UTC(), FailOn: FailOnNone, OpenReportsServed: in.OpenReportsServed,
		AtOrAboveFailOn: []string{}, Nodes: []Node{}, Checks: []Check{},
	}
	if in.FailOn != "" {
		f.FailOn = string(in.FailOn)
	}
	reports := map[string]*v1alpha1.ClusterReport{}
	for i := range in.Reports {
		r := &in.Reports[i]
		if r.Scope == nil || r.Scope.Kind != "Node" || r.Labels[openreports.LabelManagedBy] != openreports.Source {
			continue
		}
		if name, err := openreports.Name(r.Scope.Name); err != nil || name != r.Name {
			continue
		}
		reports[r.Scope.Name] = r
	}
	for i := range in.Nodes {
		n := &in.Nodes[i]
		r := reports[n.Name]
		if r != nil && r.Scope.UID != "" && n.UID != "" && r.Scope.UID != n.UID {
			r = nil
		}
		f.Nodes = append(f.Nodes, judge(n, r))
	}
	slices.SortFunc(f.Nodes, func(a, b Node) int {
		return cmp.Or(
			cmp.Compare(sourceRank(a.Source), sourceRank(b.Source)),
			cmp.Compare(b.Failing, a.Failing),
			cmp.Compare(b.Worst.Rank(), a.Worst.Rank()),
			cmp.Compare(b.Errors, a.Errors),
			cmp.Compare(b.WorstError.Rank(), a.WorstError.Rank()),
			cmp.Compare(a.Name, b.Name),
		)
	})
	for _, n := range f.Nodes {
		s := &f.Summary
		s.Nodes++
		switch n.Source {
		case FromReport:
			s.FromReports++
		case FromConditions:
			s.FromConditions++
		default:
			s.WithoutData++
		}
		if n.Failing > 0 {
			s.FailingNodes++
		}
		if n.Errors > 0 {
			s.ErroringNodes++
		}
		if in.FailOn != "" && (atOrAbove(n.Worst, in.FailOn) || atOrAbove(n.WorstError, in.FailOn)) {
			f.AtOrAboveFailOn = append(f.AtOrAboveFailOn, n.Name)
		}
	}
	f.Checks = checks(f.Nodes)
	return f
}

func atOrAbove(s, threshold finding.Severity) bool {
	return s != "" && s.Rank() >= threshold.Rank()
}

// sourceRank puts nodes without data last.
func sourceRank(s Source) int {
	if s == FromNone {
		return 1
	}
	return 0
}

func judge(n *corev1.Node, r *v1alpha1.ClusterReport) Node {
	out := Node{Name: n.Name, Source: FromNone, Problems: []Problem{}}
	judgedByConditions := false
	var problems []Problem
	for _, c := range n.Status.Conditions {
		if !kube.Owned(c.Type) {
			continue
		}
		if hb := c.LastHeartbeatTime.Time; !hb.IsZero() && (out.LastHeartbeat == nil || hb.After(*out.LastHeartbeat)) {
			t := hb.UTC()
			out.LastHeartbeat = &t
		}
		if c.Type == kube.RuntimeAnomalyDetected {
			// Not a family of checks: reports do not carry it either.
			if c.Status == corev1.ConditionTrue {
				out.RuntimeAnomaly = c.Message
			}
			continue
		}
		judgedByConditions = true
		var status finding.Status
		switch c.Status {
		case corev1.ConditionTrue:
			status = finding.Fail
		case corev1.ConditionUnknown:
			status = finding.Error
		default:
			continue
		}
		checks, sev := ParseConditionMessage(c.Message)
		problems = append(problems, Problem{
			Status: status, Severity: sev, Condition: string(c.Type), Checks: checks, Message: c.Message,
		})
	}
	switch {
	case r != nil:
		out.Source = FromReport
		fromReport(&out, r)
	case judgedByConditions:
		out.Source = FromConditions
		for _, p := range problems {
			out.add(p)
		}
		slices.SortStableFunc(out.Problems, func(a, b Problem) int {
			return cmp.Or(
				cmp.Compare(b.Status.Rank(), a.Status.Rank()),
				cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
				cmp.Compare(a.Condition, b.Condition),
			)
		})
	}
	return out
}

// add counts p in the node's totals.
func (n *Node) add(p Problem) {
	n.Problems = append(n.Problems, p)
	if p.Status == finding.Fail {
		n.Failing += p.Checks
		if p.Severity.Rank() > n.Worst.Rank() {
			n.Worst = p.Severity
		}
	} else {
		n.Errors += p.Checks
		if p.Severity.Rank() > n.WorstError.Rank() {
			n.WorstError = p.Severity
		}
	}
}

func fromReport(out *Node, r *v1alpha1.ClusterReport) {
	out.Role = r.Annotations[openreports.AnnotationRole]
	out.Omitted, _ = strconv.Atoi(r.Annotations[openreports.AnnotationOmitted])
	var changed time.Time
	for _, res := range r.Results {
		if ts := time.Unix(res.Timestamp.Seconds, int64(res.Timestamp.Nanos)); res.Timestamp.Seconds != 0 && ts.After(changed) {
			changed = ts
		}
		status := finding.Status(res.Result)
		if status != finding.Fail && status != finding.Error {
			continue
		}
		out.add(Problem{
			Status: status, Severity: severity(string(res.Severity)), Check: res.Rule, Probe: res.Policy,
			Checks: 1, Title: res.Properties["title"], Message: res.Description,
		})
	}
	if !changed.IsZero() {
		changed = changed.UTC()
		out.ReportChangedAt = &changed
	}
	// The summary counts every finding, the results only those kept. The
	// size bound keeps fails before errors and, within each, the most severe
	// first: an error left out has a severity nobody can tell, so it counts
	// as high, as severity does, and is not let through a gate.
	if r.Summary.Error > out.Errors && out.WorstError.Rank() < finding.High.Rank() {
		out.WorstError = finding.High
	}
	out.Failing = max(out.Failing, r.Summary.Fail)
	out.Errors = max(out.Errors, r.Summary.Error)
}

// severity is s, or high when it is not a severity: a check whose severity
// cannot be told is not let through a gate.
func severity(s string) finding.Severity {
	if v, err := finding.ParseSeverity(s); err == nil {
		return v
	}
	return finding.High
}

var (
	countRE    = regexp.MustCompile(`^(\d+) (?:failing|unjudged) checks?: `)
	severityRE = regexp.MustCompile(`\[(critical|high|medium|low|info)\]`)
)

// ParseConditionMessage reads a True or Unknown condition's message, "N
// failing checks: [severity] Title: message; ..." (most severe first): the
// number of checks it stands for, and the severity of the first. A message
// of another shape stands for 1 check of high severity.
func ParseConditionMessage(msg string) (checks int, sev finding.Severity) {
	checks, sev = 1, finding.High
	if m := countRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			checks = n
		}
	}
	if m := severityRE.FindStringSubmatch(msg); m != nil {
		sev = finding.Severity(m[1])
	}
	return checks, sev
}

// checks gathers the report-judged nodes' problems by check: most failing
// nodes first, then most severe, then most erroring nodes, then by id.
func checks(nodes []Node) []Check {
	byID := map[string]*Check{}
	for _, n := range nodes {
		if n.Source != FromReport {
			continue
		}
		for _, p := range n.Problems {
			c := byID[p.Check]
			if c == nil {
				c = &Check{ID: p.Check, Probe: p.Probe, Title: p.Title, FailingNodes: []string{}, ErroringNodes: []string{}}
				byID[p.Check] = c
			}
			if p.Severity.Rank() > c.Severity.Rank() {
				c.Severity = p.Severity
			}
			list := &c.FailingNodes
			if p.Status == finding.Error {
				list = &c.ErroringNodes
			}
			// A check fails once per subject (every open port): a node counts once.
			if l := *list; len(l) == 0 || l[len(l)-1] != n.Name {
				*list = append(l, n.Name)
			}
		}
	}
	out := make([]Check, 0, len(byID))
	for _, c := range byID {
		slices.Sort(c.FailingNodes)
		slices.Sort(c.ErroringNodes)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Check) int {
		return cmp.Or(
			cmp.Compare(len(b.FailingNodes), len(a.FailingNodes)),
			cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
			cmp.Compare(len(b.ErroringNodes), len(a.ErroringNodes)),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return out
}
