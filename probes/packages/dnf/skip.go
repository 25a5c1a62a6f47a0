package dnf

import (
	"bytes"
	"io"
)

// formatSkipper drops each package's <format>...</format> (dependencies and
// file lists, most of primary.xml's bytes) before the XML decoder sees them:
// the decoder then tokenizes a fraction of the file. Markup cannot hide in
// text (a '<' in text is escaped), and primary.xml has no CDATA, so the two
// tags are found by plain search.
type formatSkipper struct {
	r       io.Reader
	buf     []byte // read, not yet handled
	out     []byte // handled, not yet returned
	outBuf  []byte
	in      bool // inside <format>
	eof     bool
	readErr error
}

var (
	formatOpen  = []byte("<format>")
	formatClose = []byte("</format>")
)

func newFormatSkipper(r io.Reader) *formatSkipper {
	return &formatSkipper{r: r, buf: make([]byte, 0, 128<<10)}
}

func (s *formatSkipper) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.eof {
			if s.in {
				return 0, io.ErrUnexpectedEOF // <format> never closed: truncated
			}
			if len(s.buf) > 0 {
				s.out, s.buf = s.buf, s.buf[len(s.buf):]
				break
			}
			return 0, s.readErr
		}
		s.fill()
		s.process()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *formatSkipper) fill() {
	if cap(s.buf)-len(s.buf) < 32<<10 {
		nb := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.eof, s.readErr = true, err
	}
}

// process moves what can be decided from buf to out, keeping a tail that
// may be the start of a tag split across reads.
func (s *formatSkipper) process() {
	data := s.buf
	out := s.outBuf[:0]
	for {
		if !s.in {
			i := bytes.Index(data, formatOpen)
			if i < 0 {
				keep := min(len(data), len(formatOpen)-1)
				if s.eof {
					keep = 0
				}
				out = append(out, data[:len(data)-keep]...)
				data = data[len(data)-keep:]
				break
			}
			out = append(out, data[:i]...)
			data = data[i+len(formatOpen):]
			s.in = true
			continue
		}
		i := bytes.Index(data, formatClose)
		if i < 0 {
			data = data[len(data)-min(len(data), len(formatClose)-1):]
			break
		}
		data = data[i+len(formatClose):]
		s.in = false
	}
	s.buf = s.buf[:copy(s.buf[:cap(s.buf)], data)]
	s.outBuf, s.out = out, out
}
