package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLine bounds one line of a control file: real Packages lines are a few
// KiB, so anything longer is corrupt or hostile input, not data.
const MaxLine = 1 << 20

// Stanza is one paragraph of a deb822 control file, with only the fields the
// caller asked for. Values are valid until the callback returns.
type Stanza struct {
	// Line is the 1-based line number where the stanza starts.
	Line   int
	values [][]byte
	set    []bool
}

// Get returns the value of the i-th requested field ("" when absent).
func (s *Stanza) Get(i int) []byte { return s.values[i] }

// Has reports whether the i-th requested field was present.
func (s *Stanza) Has(i int) bool { return s.set[i] }

// StanzaReader streams deb822 paragraphs (dpkg status, Packages, Release,
// deb822 sources, apt preferences), keeping only a few fields so that a
// 100 MB Packages list costs one buffer, not one string per line.
type StanzaReader struct {
	r        *bufio.Reader
	fields   []string
	comments bool
	line     int
	scratch  []byte
	st       Stanza
	spans    [][2]int
}

// NewStanzaReader reads paragraphs from r, keeping fields (matched case
// insensitively, as apt and dpkg do). comments allows '#' lines, which
// sources and preferences files have and Packages files do not.
func NewStanzaReader(r io.Reader, fields []string, comments bool) *StanzaReader {
	return &StanzaReader{
		r:        bufio.NewReaderSize(r, 64<<10),
		fields:   fields,
		comments: comments,
		st:       Stanza{values: make([][]byte, len(fields)), set: make([]bool, len(fields))},
		spans:    make([][2]int, len(fields)),
	}
}

// ErrSyntax marks malformed control data.
var ErrSyntax = errors.New("malformed control data")

// readLine returns the next line without its newline. Over-long lines are an
// error rather than a silent truncation.
func (sr *StanzaReader) readLine() ([]byte, error) {
	line, err := sr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = sr.r.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > MaxLine {
				return nil, fmt.Errorf("line %d: %w: line longer than %d bytes", sr.line+1, ErrSyntax, MaxLine)
			}
		}
		line = buf
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(line) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	sr.line++
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, nil
}

// Next reads the next paragraph into the returned stanza, or returns io.EOF.
func (sr *StanzaReader) Next() (*Stanza, error) {
	sr.scratch = sr.scratch[:0]
	for i := range sr.st.set {
		sr.st.set[i] = false
		sr.spans[i] = [2]int{}
	}
	cur := -1 // index of the kept field a continuation line extends
	inStanza := false
	for {
		line, err := sr.readLine()
		if err == io.EOF {
			if inStanza {
				break
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if inStanza {
				break
			}
			continue
		}
		if sr.comments && line[0] == '#' {
			continue
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("line %d: %w: NUL byte (binary data?)", sr.line, ErrSyntax)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !inStanza {
				return nil, fmt.Errorf("line %d: %w: continuation line outside a paragraph", sr.line, ErrSyntax)
			}
			if cur >= 0 {
				sr.scratch = append(sr.scratch, '\n')
				sr.scratch = append(sr.scratch, bytes.TrimSpace(line)...)
				sr.spans[cur][1] = len(sr.scratch)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("line %d: %w: %q is not a \"Field: value\" line", sr.line, ErrSyntax, clip(line))
		}
		if !inStanza {
			inStanza = true
			sr.st.Line = sr.line
		}
		name := line[:colon]
		cur = -1
		for i, f := range sr.fields {
			if asciiEqualFold(f, name) {
				cur = i
				break
			}
		}
		if cur < 0 {
			continue
		}
		val := bytes.TrimSpace(line[colon+1:])
		start := len(sr.scratch)
		sr.scratch = append(sr.scratch, val...)
		sr.spans[cur] = [2]int{start, len(sr.scratch)}
		sr.st.set[cur] = true
	}
	for i, sp := range sr.spans {
		sr.st.values[i] = sr.scratch[sp[0]:sp[1]:sp[1]]
	}
	return &sr.st, nil
}

// asciiEqualFold compares a field name without converting it to a string:
// this runs for every line of every list.
func asciiEqualFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x, y := s[i], b[i]
		if x != y && x|0x20 != y|0x20 {
			return false
		}
	}
	return true
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// Paragraph is a fully read stanza of a small file (Release, sources,
// preferences): field names lower-cased, values trimmed.
type Paragraph struct {
	Line   int
	Fields map[string]string
}

// Get returns a field case-insensitively.
func (p Paragraph) Get(name string) string { return p.Fields[strings.ToLower(name)] }

// ReadParagraphs parses every paragraph of a small control file, all fields kept.
func ReadParagraphs(r io.Reader, comments bool) ([]Paragraph, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	sr := &StanzaReader{r: br, comments: comments}
	var out []Paragraph
	var cur *Paragraph
	last := ""
	// Continuation lines are collected apart: appending to the map value
	// would be quadratic in the SHA256 lists of a Release file.
	cont := map[string]*strings.Builder{}
	flush := func() {
		for k, b := range cont {
			cur.Fields[k] += b.String()
		}
		clear(cont)
	}
	for {
		line, err := sr.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if cur != nil {
				flush()
			}
			cur = nil
			continue
		}
		if comments && line[0] == '#' {
			continue
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return out, fmt.Errorf("line %d: %w: NUL byte (binary data?)", sr.line, ErrSyntax)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == nil {
				return out, fmt.Errorf("line %d: %w: continuation line outside a paragraph", sr.line, ErrSyntax)
			}
			if cont[last] == nil {
				cont[last] = &strings.Builder{}
			}
			cont[last].WriteByte('\n')
			cont[last].Write(bytes.TrimSpace(line))
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return out, fmt.Errorf("line %d: %w: %q is not a \"Field: value\" line", sr.line, ErrSyntax, clip(line))
		}
		if cur == nil {
			out = append(out, Paragraph{Line: sr.line, Fields: map[string]string{}})
			cur = &out[len(out)-1]
		}
		last = strings.ToLower(string(bytes.TrimSpace(line[:colon])))
		cur.Fields[last] = string(bytes.TrimSpace(line[colon+1:]))
	}
	if cur != nil {
		flush()
	}
	return out, nil
}
