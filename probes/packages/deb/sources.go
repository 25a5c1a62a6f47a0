package deb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Source is one (URI, suite) of a `deb` line or deb822 stanza.
type Source struct {
	URI        string
	Suite      string
	Components []string // empty for a flat repository ("suite/")
	Archs      []string // the arch= option; empty means the system's architectures
	File       string   // where it was configured, for messages
	Line       int
}

// Flat reports a flat repository: apt reads its indexes from URI/Suite
// instead of URI/dists/Suite.
func (s Source) Flat() bool { return strings.HasSuffix(s.Suite, "/") }

// ParseSourcesList parses the one-line format of sources.list and
// sources.list.d/*.list. Only `deb` entries matter here; deb-src and
// disabled lines are skipped.
func ParseSourcesList(r io.Reader, file string) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("%s:%d: %w: NUL byte (binary data?)", file, n, ErrSyntax)
		}
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			continue
		}
		typ := fields[0]
		fields = fields[1:]
		var opts map[string]string
		if len(fields) > 0 && strings.HasPrefix(fields[0], "[") {
			// Options may be "[a=b c=d]" split over several words.
			var words []string
			for len(fields) > 0 {
				w := fields[0]
				fields = fields[1:]
				words = append(words, w)
				if strings.HasSuffix(w, "]") {
					break
				}
			}
			joined := strings.TrimSuffix(strings.TrimPrefix(strings.Join(words, " "), "["), "]")
			if !strings.HasSuffix(words[len(words)-1], "]") {
				return nil, fmt.Errorf("%s:%d: %w: unterminated [options]", file, n, ErrSyntax)
			}
			opts = map[string]string{}
			for _, kv := range strings.Fields(joined) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("%s:%d: %w: option %q is not key=value", file, n, ErrSyntax, kv)
				}
				opts[strings.ToLower(k)] = v
			}
		}
		if typ != "deb" {
			if typ == "deb-src" {
				continue
			}
			return nil, fmt.Errorf("%s:%d: %w: unknown entry type %q", file, n, ErrSyntax, typ)
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: %w: want `deb URI suite [component...]`", file, n, ErrSyntax)
		}
		src := Source{URI: fields[0], Suite: fields[1], Components: fields[2:], File: file, Line: n}
		if !src.Flat() && len(src.Components) == 0 {
			return nil, fmt.Errorf("%s:%d: %w: suite %q needs components (or end in / for a flat repository)", file, n, ErrSyntax, src.Suite)
		}
		if a, ok := opts["arch"]; ok {
			src.Archs = strings.Split(a, ",")
		}
		if v, ok := opts["enabled"]; ok && !yes(v) {
			continue
		}
		out = append(out, src)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// ParseSources parses a deb822 *.sources file.
func ParseSources(r io.Reader, file string) ([]Source, error) {
	paras, err := ReadParagraphs(r, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []Source
	for _, p := range paras {
		if e := p.Get("Enabled"); e != "" && !yes(e) {
			continue
		}
		types := strings.Fields(p.Get("Types"))
		hasDeb := false
		for _, t := range types {
			if t == "deb" {
				hasDeb = true
			} else if t != "deb-src" {
				return nil, fmt.Errorf("%s:%d: %w: unknown type %q", file, p.Line, ErrSyntax, t)
			}
		}
		if len(types) == 0 {
			return nil, fmt.Errorf("%s:%d: %w: no Types field", file, p.Line, ErrSyntax)
		}
		if !hasDeb {
			continue
		}
		uris, suites := strings.Fields(p.Get("URIs")), strings.Fields(p.Get("Suites"))
		comps := strings.Fields(p.Get("Components"))
		if len(uris) == 0 || len(suites) == 0 {
			return nil, fmt.Errorf("%s:%d: %w: URIs and Suites are required", file, p.Line, ErrSyntax)
		}
		var archs []string
		if a := p.Get("Architectures"); a != "" {
			archs = strings.Fields(a)
		}
		for _, u := range uris {
			for _, s := range suites {
				src := Source{URI: u, Suite: s, Components: comps, Archs: archs, File: file, Line: p.Line}
				if src.Flat() {
					src.Components = nil
				} else if len(comps) == 0 {
					return nil, fmt.Errorf("%s:%d: %w: suite %q needs Components (or end in / for a flat repository)", file, p.Line, ErrSyntax, s)
				}
				out = append(out, src)
			}
		}
	}
	return out, nil
}

func yes(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "with", "on", "enable", "1":
		return true
	}
	return false
}

// ListFileName is apt's name for URI+rest in /var/lib/apt/lists (apt's
// URItoFileName): credentials and the scheme dropped, unsafe characters
// %-escaped, '/' turned into '_'.
func ListFileName(uri, rest string) string {
	u := uri
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	u += rest
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if i := strings.Index(u, ":"); i >= 0 && !strings.Contains(u[:i], "/") {
		u = u[i+1:] // file:/srv/repo
	}
	// Drop user:password@ from the host part.
	host, path, _ := strings.Cut(u, "/")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	u = host + "/" + path
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\\|{}[]<>\"^~_=!@#$%^&*", c) >= 0 {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		if c == '/' {
			c = '_'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Site is the host name of a source's URI, what `Pin: origin` matches.
func Site(uri string) string {
	u := uri
	i := strings.Index(u, "://")
	if i < 0 {
		return "" // file: and other local sources have an empty site
	}
	u = u[i+3:]
	host, _, _ := strings.Cut(u, "/")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	// apt's site is the host name alone, without the port.
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host
}
