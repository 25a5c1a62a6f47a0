package sshd

import (
	"bytes"
	"strings"
)

// The functions in this file reproduce OpenSSH's tokenisers byte for byte
// (load_server_config, strdelim, argv_split), because their quirks decide
// what sshd accepts: an unterminated double quote in a keyword silently drops
// the line, a NUL byte swallows the rest of its line and the line break, and
// only one '=' separates a keyword from its value.

// loadBuffer turns a file's bytes into the buffer sshd parses: every line
// loses its leading spaces, tabs and CRs, and is cut at its first NUL (which
// also drops its newline, joining it to the next line).
func loadBuffer(data []byte) string {
	var b strings.Builder
	b.Grow(len(data))
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimLeft(line, " \t\r")
		if j := bytes.IndexByte(line, 0); j >= 0 {
			line = line[:j]
		}
		b.Write(line)
	}
	return b.String()
}

const whitespace = " \t\r\n"

// cursor is a C string pointer into a configuration line; null is NULL.
type cursor struct {
	s    string
	null bool
}

// strdelim returns the next token, splitting on whitespace or a single '='
// and honouring double quotes. ok is false where C returns NULL.
func strdelim(c *cursor) (tok string, ok bool) {
	if c.null {
		return "", false
	}
	old := c.s
	p := strings.IndexAny(old, whitespace+`"=`)
	if p < 0 {
		c.null = true
		return old, true
	}
	if old[p] == '"' {
		buf := old[:p] + old[p+1:]
		q := strings.IndexByte(buf[p:], '"')
		if q < 0 {
			c.null = true
			return "", false
		}
		q += p
		rest := buf[q+1:]
		c.s = rest[strspn(rest, whitespace):]
		return buf[:q], true
	}
	wspace := old[p] == '='
	rest := old[p+1:]
	rest = rest[strspn(rest, whitespace):]
	if !wspace && strings.HasPrefix(rest, "=") {
		rest = rest[1:]
		rest = rest[strspn(rest, whitespace):]
	}
	c.s = rest
	return old[:p], true
}

func strspn(s, chars string) int {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(chars, s[i]) < 0 {
			return i
		}
	}
	return len(s)
}

// argvSplit splits a directive's arguments like OpenSSH's argv_split with
// terminate_on_comment: single and double quotes, backslash escapes of
// quotes, backslashes and (unquoted) spaces, and '#' starting a comment at
// the start of an argument. ok is false on an unterminated quote.
func argvSplit(s string) (args []string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			continue
		}
		if s[i] == '#' {
			break
		}
		var quote byte
		var arg []byte
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')) {
					i++
					arg = append(arg, s[i])
				} else {
					arg = append(arg, c)
				}
				continue
			case quote == 0 && (c == ' ' || c == '\t'):
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				continue
			case quote != 0 && c == quote:
				quote = 0
				continue
			default:
				arg = append(arg, c)
				continue
			}
			break
		}
		args = append(args, string(arg))
		if i >= len(s) {
			if quote != 0 {
				return nil, false
			}
			break
		}
	}
	return args, true
}

// trimLine strips trailing whitespace and form feeds but never the first
// character, as process_server_config_line does.
func trimLine(line string) string {
	n := len(line)
	for n > 1 && strings.IndexByte(whitespace+"\f", line[n-1]) >= 0 {
		n--
	}
	return line[:n]
}
