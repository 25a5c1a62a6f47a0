package kubelet

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseProcCmdline splits /proc/<pid>/cmdline, whose arguments are each
// terminated by a NUL byte.
func ParseProcCmdline(data []byte) []string {
	data = bytes.TrimSuffix(data, []byte{0})
	if len(data) == 0 {
		return nil
	}
	parts := bytes.Split(data, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// SplitSystemdWords splits a systemd command line or Environment= value into
// words the way systemd's extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)
// does: whitespace separates words, single and double quotes group (also in
// the middle of a word), and C escapes (\n, \t, \s, \xNN, \NNN, \uXXXX...) are
// decoded. An unterminated quote or a trailing backslash is an error, as it is
// for systemd, which then ignores the whole setting.
func SplitSystemdWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote, inWord = c, true
		case quote == 0 && isSystemdSpace(c):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash in %q", s)
			}
			n, err := unescapeC(s[i+1:], &cur)
			if err != nil {
				return nil, fmt.Errorf("%w in %q", err, s)
			}
			i += n
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func isSystemdSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// unescapeC decodes one C escape at the start of s (after the backslash),
// writes it to b and returns how many bytes of s it used.
func unescapeC(s string, b *strings.Builder) (int, error) {
	simple := map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
		'\\': '\\', '"': '"', '\'': '\'', 's': ' '}
	c := s[0]
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		return 1, nil
	}
	hexRune := func(digits int, base int) (int, error) {
		if len(s) < 1+digits {
			return 0, fmt.Errorf("short \\%c escape", c)
		}
		v, err := strconv.ParseUint(s[1:1+digits], base, 32)
		if err != nil {
			return 0, fmt.Errorf("bad \\%c escape", c)
		}
		if c == 'x' {
			b.WriteByte(byte(v))
		} else {
			if !utf8.ValidRune(rune(v)) || v == 0 {
				return 0, fmt.Errorf("bad \\%c escape", c)
			}
			b.WriteRune(rune(v))
		}
		return 1 + digits, nil
	}
	switch c {
	case 'x':
		return hexRune(2, 16)
	case 'u':
		return hexRune(4, 16)
	case 'U':
		return hexRune(8, 16)
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return 0, fmt.Errorf("short octal escape")
		}
		v, err := strconv.ParseUint(s[:3], 8, 8)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("bad octal escape")
		}
		b.WriteByte(byte(v))
		return 3, nil
	case '\n':
		return 1, nil
	}
	return 0, fmt.Errorf("unknown escape \\%c", c)
}

// ExpandExecArgs substitutes environment variables in an ExecStart argv as
// systemd does at exec time: a word that is exactly $NAME becomes the value
// split at whitespace (zero or more words); ${NAME} anywhere in a word is
// replaced verbatim; $$ is a literal $. Unset variables are empty. Expansion
// is skipped for the command when noExpand (the ':' prefix) is set.
func ExpandExecArgs(argv []string, env map[string]string) []string {
	var out []string
	for _, w := range argv {
		if len(w) > 1 && w[0] == '$' && w[1] != '{' && w[1] != '$' && validEnvName(w[1:]) {
			out = append(out, strings.Fields(env[w[1:]])...)
			continue
		}
		out = append(out, expandBraces(w, env))
	}
	return out
}

func expandBraces(w string, env map[string]string) string {
	if !strings.Contains(w, "$") {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 >= len(w) {
			b.WriteByte(w[i])
			continue
		}
		switch w[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(w[i+2:], '}')
			if end < 0 || !validEnvName(w[i+2:i+2+end]) {
				b.WriteByte('$')
				continue
			}
			b.WriteString(env[w[i+2:i+2+end]])
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// ParseEnvironmentFile reads a systemd EnvironmentFile: KEY=VALUE lines, '#'
// and ';' comment lines (a '#' inside a value is part of it), optional single or double quotes (backslash escapes in
// double quotes and unquoted values), backslash-newline continuations.
func ParseEnvironmentFile(data []byte) (map[string]string, error) {
	env := map[string]string{}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	lineNo := 0
	for len(s) > 0 {
		line, rest := cutLine(s)
		lineNo++
		// An unquoted backslash at the end joins the next line.
		for strings.HasSuffix(line, "\\") && !strings.HasSuffix(line, "\\\\") && rest != "" {
			var next string
			next, rest = cutLine(rest)
			lineNo++
			line = line[:len(line)-1] + next
		}
		s = rest
		t := strings.TrimLeft(line, " \t")
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		key, val, ok := strings.Cut(t, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvName(key) {
			return nil, fmt.Errorf("line %d: not a KEY=VALUE assignment", lineNo)
		}
		v, err := envValue(strings.TrimLeft(val, " \t"))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		env[key] = v
	}
	return env, nil
}

func cutLine(s string) (string, string) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func envValue(v string) (string, error) {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote == '\'' && c == '\'':
			quote = 0
		case quote == '"' && c == '"':
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote != '\'' && c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated %c quote", quote)
	}
	return strings.TrimRight(b.String(), " \t"), nil
}
