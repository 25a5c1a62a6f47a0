package report

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// WriteJSON writes the report in the documented JSON schema, compact and on
// one line. Findings are streamed one by one through a small buffer: a node
// with ten thousand sockets has megabytes of them, and encoding/json would
// build the whole document in memory (and sort every evidence map by
// reflection) first. The differential test holds it to encoding/json's output.
func WriteJSON(w io.Writer, r *finding.Report) error {
	return writeJSON(w, r, jsonChunk, runtime.GOMAXPROCS(0))
}

// jsonChunk is how many findings one goroutine encodes at a time when a
// report is large enough to be encoded on several cores.
const jsonChunk = 512

func writeJSON(w io.Writer, r *finding.Report, chunk, workers int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 4096)
	b = append(b, `{"node":`...)
	b = appendString(b, r.Node)
	b = append(b, `,"role":`...)
	b = appendString(b, r.Role)
	b = append(b, `,"roleReason":`...)
	b = appendString(b, r.RoleReason)
	b = append(b, `,"hostRoot":`...)
	b = appendString(b, r.HostRoot)
	b = append(b, `,"scannedAt":`...)
	b = appendString(b, r.ScannedAt.Format(time.RFC3339Nano))
	b = append(b, `,"findings":[`...)
	if workers > 1 && len(r.Findings) > 2*chunk {
		if _, err := bw.Write(b); err != nil {
			return err
		}
		b = b[:0]
		if err := writeFindingsParallel(bw, r.Findings, chunk, workers); err != nil {
			return err
		}
	} else {
		for i := range r.Findings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFinding(b, &r.Findings[i])
			if len(b) > 32<<10 {
				if _, err := bw.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
	}
	b = append(b, `],"summary":`...)
	rest, err := json.Marshal(struct {
		Summary finding.Summary    `json:"summary"`
		Probes  []finding.ProbeRun `json:"probes"`
	}{r.Summary, r.Probes})
	if err != nil {
		return err
	}
	// rest is {"summary":{...},"probes":[...]}: splice its fields in.
	b = append(b, rest[len(`{"summary":`):]...)
	b = append(b, '\n')
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// writeFindingsParallel encodes the findings, comma-separated, chunk by
// chunk on up to workers goroutines and writes the chunks in order. At most
// 2×workers chunks are in flight and their buffers are reused, so memory stays
// bounded however large the report: ten thousand listeners are 5 MB of JSON,
// and one core spends longer encoding them than the whole scan reading them.
func writeFindingsParallel(w io.Writer, fs []finding.Finding, chunk, workers int) error {
	type part struct {
		buf  []byte
		done chan struct{}
	}
	inFlight := 2 * workers
	queue := make(chan *part, inFlight)   // in order, for the writer
	free := make(chan []byte, inFlight+1) // buffers the writer is done with
	stop := make(chan struct{})           // the writer failed: encode no more
	go func() {
		defer close(queue)
		sem := make(chan struct{}, workers)
		for lo := 0; lo < len(fs); lo += chunk {
			p := &part{done: make(chan struct{})}
			select {
			case queue <- p:
			case <-stop:
				return
			}
			sem <- struct{}{}
			go func(lo, hi int) {
				defer func() { <-sem; close(p.done) }()
				var b []byte
				select {
				case b = <-free:
				default:
				}
				for i := lo; i < hi; i++ {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendFinding(b, &fs[i])
				}
				p.buf = b
			}(lo, min(lo+chunk, len(fs)))
		}
	}()
	var err error
	for p := range queue {
		<-p.done
		if err != nil {
			continue // drain: the encoders finish their chunks
		}
		if _, err = w.Write(p.buf); err != nil {
			close(stop)
			continue
		}
		select {
		case free <- p.buf[:0]:
		default:
		}
	}
	return err
}

func appendFinding(b []byte, f *finding.Finding) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, f.ID)
	b = append(b, `,"probe":`...)
	b = appendString(b, f.Probe)
	b = append(b, `,"status":`...)
	b = appendString(b, string(f.Status))
	b = append(b, `,"severity":`...)
	b = appendString(b, string(f.Severity))
	b = append(b, `,"title":`...)
	b = appendString(b, f.Title)
	b = append(b, `,"message":`...)
	b = appendString(b, f.Message)
	b = append(b, `,"remediation":`...)
	b = appendString(b, f.Remediation)
	b = append(b, `,"references":[`...)
	for i, ref := range f.References {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ref)
	}
	b = append(b, `],"evidence":{`...)
	for i, ev := range f.Evidence.Sorted() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ev.Key)
		b = append(b, ':')
		b = appendString(b, ev.Value)
	}
	return append(b, "}}"...)
}

const hexDigits = "0123456789abcdef"

// mayNeedEscape tells whether any of the 8 bytes in x is a control
// character, '"', '\\' or not ASCII (exactly: the tests are the classic
// "has a zero byte" and "has a byte less than n" bit tricks).
func mayNeedEscape(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	control := (x - 0x20*ones) &^ x & highs
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	return control|((quote-ones)&^quote&highs)|((backslash-ones)&^backslash&highs)|x&highs != 0
}

// plainASCII marks the ASCII bytes a JSON string holds as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString quotes s as encoding/json does, HTML escaping aside: control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped for JavaScript consumers.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: most of a report is plain ASCII.
		for i+8 <= len(s) && !mayNeedEscape(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
