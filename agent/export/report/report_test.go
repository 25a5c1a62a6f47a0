package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// tabwriterTable is the table as text/tabwriter lays it out: the reference
// WriteTable's own column sizing must match.
func tabwriterTable(r *finding.Report, verbose bool) string {
	var out bytes.Buffer
	fmt.Fprintf(&out, "node %s  role %s (%s)  host root %s  scanned %s\n\n",
		r.Node, r.Role, r.RoleReason, r.HostRoot, r.ScannedAt.Format("2006-01-02T15:04:05Z"))
	var rows []finding.Finding
	for _, f := range r.Findings {
		if verbose || f.Status == finding.Fail || f.Status == finding.Error {
			rows = append(rows, f)
		}
	}
	sortRows(rows)
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSEVERITY\tPROBE\tCHECK\tDETAIL")
	for _, f := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Status, f.Severity, f.Probe, f.ID, oneLine(f.Message, 120))
	}
	tw.Flush()
	s := r.Summary
	fmt.Fprintf(&out, "\n%d pass, %d fail, %d error, %d skip\n", s.Pass, s.Fail, s.Error, s.Skip)
	return out.String()
}

func sortRows(rows []finding.Finding) {
	// Insertion sort: stable, like WriteTable's.
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0; j-- {
			a, b := rows[j-1], rows[j]
			sa, sb := a.Status.Rank(), b.Status.Rank()
			if sb > sa || sb == sa && b.Severity.Rank() > a.Severity.Rank() {
				rows[j-1], rows[j] = b, a
				continue
			}
			break
		}
	}
}

func randomTableReport(rng *rand.Rand, n int) *finding.Report {
	statuses := []finding.Status{finding.Pass, finding.Fail, finding.Error, finding.Skip}
	sevs := []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low, finding.Info}
	words := []string{"port", "sshd", "é", "日本", "\t", "  ", "\n", "listener", "x", "…", "\u00a0", strings.Repeat("long", 40)}
	r := &finding.Report{Node: "n1", Role: "worker", RoleReason: "test", HostRoot: "/", ScannedAt: time.Unix(0, 0).UTC()}
	for range n {
		var msg []string
		for range rng.IntN(12) {
			msg = append(msg, words[rng.IntN(len(words))])
		}
		f := finding.Finding{
			ID:       []string{"a", "ports.listener", "sshd.permit-root-login", "日本.x"}[rng.IntN(4)],
			Probe:    []string{"ports", "sshd", "kmod-日本"}[rng.IntN(3)],
			Status:   statuses[rng.IntN(len(statuses))],
			Severity: sevs[rng.IntN(len(sevs))],
			Message:  strings.Join(msg, []string{" ", "", "  "}[rng.IntN(3)]),
		}
		r.Findings = append(r.Findings, f)
		switch f.Status {
		case finding.Pass:
			r.Summary.Pass++
		case finding.Fail:
			r.Summary.Fail++
		case finding.Error:
			r.Summary.Error++
		case finding.Skip:
			r.Summary.Skip++
		}
	}
	return r
}

func TestWriteTableMatchesTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Small tables, then some large enough to be measured on several cores.
	sizes := make([]int, 0, 304)
	for range 300 {
		sizes = append(sizes, rng.IntN(40))
	}
	sizes = append(sizes, measureParallelMin, measureParallelMin+1, 3*measureParallelMin+7)
	// A large table whose widest cells are all in its last row.
	wide := &finding.Report{Node: "n1", Role: "worker", HostRoot: "/", ScannedAt: time.Unix(0, 0).UTC()}
	for i := range 2 * measureParallelMin {
		f := finding.Finding{ID: "ports.listener", Probe: "ports", Status: finding.Fail, Severity: finding.Low, Message: "TCP 127.0.0.1:" + strconv.Itoa(i)}
		if i == 2*measureParallelMin-1 {
			f.ID, f.Probe = "ports.listener-with-a-much-longer-id", "ports-日本" // same group: the last row still
		}
		wide.Findings = append(wide.Findings, f)
		wide.Summary.Fail++
	}
	for i, n := range append(sizes, -1) {
		r := wide
		if n >= 0 {
			r = randomTableReport(rng, n)
		}
		for _, verbose := range []bool{false, true} {
			var got bytes.Buffer
			if err := WriteTable(&got, r, verbose); err != nil {
				t.Fatal(err)
			}
			if want := tabwriterTable(r, verbose); got.String() != want {
				t.Fatalf("report %d verbose=%v:\ngot:\n%s\nwant:\n%s", i, verbose, got.String(), want)
			}
		}
	}
}

func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"  lead and trail  ", "lead and trail"},
		{"two  spaces\tand\ttabs\nnewline", "two spaces and tabs newline"},
		{"nbsp\u00a0inside", "nbsp inside"},
		{strings.Repeat("é", 130), strings.Repeat("é", 119) + "…"},
		{strings.Repeat("a", 120), strings.Repeat("a", 120)},
		{strings.Repeat("a", 121), strings.Repeat("a", 119) + "…"},
	} {
		if got := oneLine(c.in, 120); got != c.want {
			t.Errorf("oneLine(%q) = %q, want %q", c.in, got, c.want)
		}
		if got, want := oneLine(c.in, 120), strings.Join(strings.Fields(c.in), " "); !strings.HasSuffix(got, "…") && got != want {
			t.Errorf("oneLine(%q) = %q, strings.Fields gives %q", c.in, got, want)
		}
	}
}

func BenchmarkWriteTable10k(b *testing.B) {
	r := &finding.Report{Node: "n1", Role: "worker", HostRoot: "/", ScannedAt: time.Now()}
	for i := range 10000 {
		r.Findings = append(r.Findings, finding.Finding{
			ID: "ports.listener", Probe: "ports", Status: finding.Fail, Severity: finding.High,
			Message: fmt.Sprintf("TCP 127.0.0.1:%d (listeners, pid 4242) is not in the port table of a worker node", 20000+i),
		})
	}
	for b.Loop() {
		if err := WriteTable(io.Discard, r, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTableRowsOrder holds the counting sort of the table's rows to the
// stable comparison sort it replaces.
func TestTableRowsOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	statuses := []finding.Status{finding.Pass, finding.Fail, finding.Error, finding.Skip}
	severities := []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low, finding.Info, "bogus"}
	for range 200 {
		fs := make([]finding.Finding, r.IntN(60))
		for i := range fs {
			fs[i] = finding.Finding{ID: strconv.Itoa(i), Status: statuses[r.IntN(len(statuses))], Severity: severities[r.IntN(len(severities))]}
		}
		for _, verbose := range []bool{false, true} {
			var want []*finding.Finding
			for i := range fs {
				if verbose || fs[i].Status == finding.Fail || fs[i].Status == finding.Error {
					want = append(want, &fs[i])
				}
			}
			slices.SortStableFunc(want, func(a, b *finding.Finding) int {
				if c := cmp.Compare(b.Status.Rank(), a.Status.Rank()); c != 0 {
					return c
				}
				return cmp.Compare(b.Severity.Rank(), a.Severity.Rank())
			})
			if got := tableRows(fs, verbose); !slices.Equal(got, want) {
				t.Fatalf("verbose %v: rows differ from the stable sort", verbose)
			}
		}
	}
}

// TestScanMessageFastPath holds plainMessage's eight-bytes-at-a-time answer to
// the rune-by-rune one, for strings of every length around the word size
// with spaces, control bytes and multi-byte runes at every position.
func TestScanMessageFastPath(t *testing.T) {
	pieces := []string{"a", "b", "~", " ", "  ", "\t", "\n", "\x7f", "\x01", "é", "\u00a0", "\u2003", "x1"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := rng.IntN(24); k > 0; k-- {
			if rng.IntN(4) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			} else {
				b.WriteByte(byte('a' + rng.IntN(26)))
			}
		}
		s := b.String()
		c1, r1 := scanMessage(s)
		c2, r2 := scanRunes(s)
		if c1 != c2 || r1 != r2 {
			t.Fatalf("scanMessage(%q) = %v, %d; rune by rune %v, %d", s, c1, r1, c2, r2)
		}
	}
	for _, s := range []string{"", " ", "a", "a ", " a", "abcdefg ", "abcdefgh", "abcdefg h", "abcdefg  h", "abcdefgh ijklmno",
		"TCP 127.0.0.1:40000 (listeners, pid 4242) is not in the port table of a worker node"} {
		c1, r1 := scanMessage(s)
		c2, r2 := scanRunes(s)
		if c1 != c2 || r1 != r2 {
			t.Errorf("scanMessage(%q) = %v, %d; rune by rune %v, %d", s, c1, r1, c2, r2)
		}
	}
}
