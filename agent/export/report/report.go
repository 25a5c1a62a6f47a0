// Package report writes a scan report for people (a table) and programs (JSON).
package report

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var tableHeader = [tableColumns]string{"STATUS", "SEVERITY", "PROBE", "CHECK", "DETAIL"}

const (
	tableColumns = 5
	tableGap     = 2   // spaces between columns
	detailMax    = 120 // runes of a message shown in the DETAIL column
)

// WriteTable writes failing and erroring findings first, most severe first,
// then a one-line count of the rest; passing findings are listed only when
// verbose is set, since a node has hundreds of them.
//
// Columns are as wide as their widest cell, as text/tabwriter would make
// them, but measured in one pass and written through one buffer: tabwriter
// keeps every cell as a separate string and writes padding in small pieces,
// which with ten thousand rows cost more than the scan.
func WriteTable(w io.Writer, r *finding.Report, verbose bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "node %s  role %s (%s)  host root %s  scanned %s\n\n",
		r.Node, r.Role, r.RoleReason, r.HostRoot, r.ScannedAt.Format("2006-01-02T15:04:05Z"))
	rows := tableRows(r.Findings, verbose)
	details := make([]string, len(rows))
	width := measure(rows, details)
	var line []byte
	var prefixOf [tableColumns - 1]string // the cells line's padded prefix shows
	prefix := 0
	writeRow := func(cells [tableColumns]string) error {
		// Rows come grouped: 10,000 listeners share their first four
		// cells, padded once.
		if prefix == 0 || [tableColumns - 1]string(cells[:tableColumns-1]) != prefixOf {
			line = line[:0]
			for c, cell := range cells[:tableColumns-1] {
				line = append(line, cell...)
				for n := utf8.RuneCountInString(cell); n < width[c]+tableGap; n++ {
					line = append(line, ' ')
				}
			}
			prefixOf, prefix = [tableColumns - 1]string(cells[:tableColumns-1]), len(line)
		}
		line = append(line[:prefix], cells[tableColumns-1]...)
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	}
	if err := writeRow(tableHeader); err != nil {
		return err
	}
	for i, f := range rows {
		if err := writeRow([tableColumns]string{string(f.Status), string(f.Severity), f.Probe, f.ID, details[i]}); err != nil {
			return err
		}
	}
	s := r.Summary
	fmt.Fprintf(bw, "\n%d pass, %d fail, %d error, %d skip\n", s.Pass, s.Fail, s.Error, s.Skip)
	return bw.Flush()
}

// measureParallelMin is the number of rows from which measure splits them
// across cores: each row's message is scanned whole (white space, runes),
// most of the table's work.
const measureParallelMin = 2048

// measure fills details with each row's message as the DETAIL column shows
// it and returns the widths of the columns before it.
func measure(rows []*finding.Finding, details []string) [tableColumns]int {
	parts := 1
	if len(rows) >= measureParallelMin {
		parts = runtime.GOMAXPROCS(0)
	}
	widths := make([][tableColumns]int, parts)
	measureRange := func(w *[tableColumns]int, lo, hi int) {
		var last *finding.Finding
		for i := lo; i < hi; i++ {
			f := rows[i]
			details[i] = oneLine(f.Message, detailMax)
			// Rows come grouped: the cells before DETAIL repeat.
			if last != nil && f.Status == last.Status && f.Severity == last.Severity && f.Probe == last.Probe && f.ID == last.ID {
				continue
			}
			last = f
			for c, cell := range [tableColumns - 1]string{string(f.Status), string(f.Severity), f.Probe, f.ID} {
				w[c] = max(w[c], utf8.RuneCountInString(cell))
			}
		}
	}
	chunk := max((len(rows)+parts-1)/parts, 1)
	var wg sync.WaitGroup
	for p, lo := 1, chunk; lo < len(rows); p, lo = p+1, lo+chunk {
		wg.Go(func() { measureRange(&widths[p], lo, min(lo+chunk, len(rows))) })
	}
	measureRange(&widths[0], 0, min(chunk, len(rows)))
	wg.Wait()
	var width [tableColumns]int
	for c, h := range tableHeader {
		width[c] = len(h)
	}
	for _, w := range widths {
		for c := range width {
			width[c] = max(width[c], w[c])
		}
	}
	return width
}

// tableRows are the findings the table shows, worst first: by status, then
// severity, each group in report order. There are only 4×6 groups, so rows
// are counted into them (10,000 listeners make a comparison sort the
// table's largest cost).
func tableRows(fs []finding.Finding, verbose bool) []*finding.Finding {
	const severities = 6 // Rank -1 (unknown) to 4
	group := func(f *finding.Finding) int {
		return (3-f.Status.Rank())*severities + (4 - f.Severity.Rank())
	}
	var start [4*severities + 1]int
	n := 0
	for i := range fs {
		if f := &fs[i]; verbose || f.Status == finding.Fail || f.Status == finding.Error {
			start[group(f)+1]++
			n++
		}
	}
	for g := 1; g < len(start); g++ {
		start[g] += start[g-1]
	}
	rows := make([]*finding.Finding, n)
	for i := range fs {
		if f := &fs[i]; verbose || f.Status == finding.Fail || f.Status == finding.Error {
			g := group(f)
			rows[start[g]] = f
			start[g]++
		}
	}
	return rows
}

// oneLine collapses runs of white space to one space and cuts s to max runes.
func oneLine(s string, max int) string {
	collapse, runes := scanMessage(s)
	if collapse {
		s = strings.Join(strings.Fields(s), " ")
		runes = utf8.RuneCountInString(s)
	}
	if runes > max {
		return truncateRunes(s, max-1) + "…"
	}
	return s
}

// scanMessage tells whether s has white space other than single inner
// spaces (most messages have none) and counts its runes.
func scanMessage(s string) (collapse bool, runes int) {
	if plainMessage(s) {
		return false, len(s) // the table's 10,000 listener messages
	}
	return scanRunes(s)
}

// scanRunes is scanMessage rune by rune.
func scanRunes(s string) (collapse bool, runes int) {
	for i := 0; i < len(s); i++ {
		runes++
		switch c := s[i]; {
		case c == ' ':
			if i == 0 || i == len(s)-1 || s[i+1] == ' ' {
				collapse = true
			}
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			collapse = true
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				collapse = true
			}
			i += size - 1
		}
	}
	return collapse, runes
}

// plainMessage tells whether s is printable ASCII whose only white space is
// single spaces between words, eight bytes at a time: then it needs no
// collapsing and has as many runes as bytes. In each 8-byte word, x-0x20
// borrows into a byte's top bit only for a byte below ' ', and a byte from
// 0x80 has it set already; sp has 0x80 in exactly the bytes that are spaces.
// Empty strings and anything else take scanMessage's byte-by-byte way.
func plainMessage(s string) bool {
	const ones, highs, lows = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	prevSpace := true // a leading space is white space to collapse
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if (x|(x-0x20*ones))&highs != 0 {
			return false
		}
		t := x ^ 0x20*ones
		sp := ^((t&lows + lows) | t | lows)
		if sp&(sp<<8) != 0 || prevSpace && sp&0x80 != 0 {
			return false
		}
		prevSpace = sp>>63 != 0
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c < ' ' || c >= utf8.RuneSelf:
			return false
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return !prevSpace // not empty, no trailing space
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
