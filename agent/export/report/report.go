// Package report writes a scan report for people (a table) and programs (JSON).
package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/nodeguard/nodeguard/agent/finding"
)

// WriteTable writes failing and erroring findings first, most severe first,
// then a one-line count of the rest; passing findings are listed only when
// verbose is set, since a node has hundreds of them.
func WriteTable(w io.Writer, r *finding.Report, verbose bool) error {
	fmt.Fprintf(w, "node %s  role %s (%s)  host root %s  scanned %s\n\n",
		r.Node, r.Role, r.RoleReason, r.HostRoot, r.ScannedAt.Format("2006-01-02T15:04:05Z"))
	rows := make([]finding.Finding, 0, len(r.Findings))
	for _, f := range r.Findings {
		if verbose || f.Status == finding.Fail || f.Status == finding.Error {
			rows = append(rows, f)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if sa, sb := statusRank(a.Status), statusRank(b.Status); sa != sb {
			return sa > sb
		}
		return a.Severity.Rank() > b.Severity.Rank()
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSEVERITY\tPROBE\tCHECK\tDETAIL")
	for _, f := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Status, f.Severity, f.Probe, f.ID, oneLine(f.Message, 120))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Summary
	_, err := fmt.Fprintf(w, "\n%d pass, %d fail, %d error, %d skip\n", s.Pass, s.Fail, s.Error, s.Skip)
	return err
}

func statusRank(s finding.Status) int {
	switch s {
	case finding.Fail:
		return 3
	case finding.Error:
		return 2
	case finding.Skip:
		return 1
	}
	return 0
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}
