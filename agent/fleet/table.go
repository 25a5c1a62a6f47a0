package fleet

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// namesShown is how many node names a check's row lists.
const namesShown = 3

// WriteJSON writes f as one JSON document.
func WriteJSON(w io.Writer, f *Fleet) error {
	return json.NewEncoder(w).Encode(f)
}

// WriteTable writes f for people: a count line, the nodes (most failing
// first) and the checks failing on the nodes judged from reports (on most
// nodes first).
func WriteTable(w io.Writer, f *Fleet) error {
	s := f.Summary
	fmt.Fprintf(w, "%d nodes: %d from reports, %d from node conditions, %d without data", s.Nodes, s.FromReports, s.FromConditions, s.WithoutData)
	if f.FailOn != FailOnNone {
		fmt.Fprintf(w, "; %d at or above %s", len(f.AtOrAboveFailOn), f.FailOn)
	}
	fmt.Fprintln(w)
	if !f.OpenReportsServed {
		fmt.Fprintln(w, "the API server does not serve OpenReports ClusterReports (CRD not installed): every node is judged from its conditions")
	}
	if len(f.Nodes) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSOURCE\tFAILING\tWORST\tERRORS\tSEEN\tTOP")
	for _, n := range f.Nodes {
		failing, errs, worst := "-", "-", "-"
		if n.Source != FromNone {
			failing, errs = fmt.Sprint(n.Failing), fmt.Sprint(n.Errors)
			if n.Worst != "" {
				worst = string(n.Worst)
			}
		}
		if n.Errors > 0 && n.WorstError != "" {
			errs += " (" + string(n.WorstError) + ")"
		}
		seen := "-"
		if n.LastHeartbeat != nil {
			seen = age(f.GeneratedAt.Sub(*n.LastHeartbeat))
		}
		top := "-"
		if len(n.Problems) > 0 {
			p := n.Problems[0]
			top = cmp.Or(p.Check, p.Condition)
			if p.Checks > 1 && p.Condition != "" {
				top += fmt.Sprintf(" (%d checks)", p.Checks)
			}
			if p.Status != "fail" {
				top += " (error)"
			}
		}
		if n.RuntimeAnomaly != "" {
			top += "; runtime anomaly"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Source, failing, worst, errs, seen, top)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.FromReports == 0 {
		return nil
	}
	fmt.Fprintln(w)
	if len(f.Checks) == 0 {
		fmt.Fprintln(w, "no check fails or errs on the nodes judged from reports")
	} else {
		fmt.Fprintln(tw, "CHECK\tSEVERITY\tFAILING\tERRORS\tNODES")
		for _, c := range f.Checks {
			nodes := names(c.FailingNodes, "")
			if e := names(c.ErroringNodes, " (error)"); e != "" {
				if nodes != "" {
					nodes += ", "
				}
				nodes += e
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.ID, c.Severity, len(c.FailingNodes), len(c.ErroringNodes), nodes)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case s.FromConditions == 1:
		fmt.Fprintln(w, "(the checks of the node judged from conditions are counted by condition above, not listed here)")
	case s.FromConditions > 1:
		fmt.Fprintf(w, "(the checks of the %d nodes judged from conditions are counted by condition above, not listed here)\n", s.FromConditions)
	}
	return nil
}

// names lists the first namesShown names, each with suffix.
func names(l []string, suffix string) string {
	if len(l) == 0 {
		return ""
	}
	shown := l[:min(len(l), namesShown)]
	out := strings.Join(shown, suffix+", ") + suffix
	if rest := len(l) - len(shown); rest > 0 {
		out += fmt.Sprintf(" (+%d more)", rest)
	}
	return out
}

// age is d rounded down to its largest unit: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
