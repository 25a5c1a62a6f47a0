package accounts

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// This file parses the sudoers grammar (sudoers(5), sudo 1.9) as far as
// privilege grants go: user specifications, aliases and include directives.
// Defaults lines are recognised and ignored.

// SudoFile is one parsed sudoers file.
type SudoFile struct {
	Specs    []UserSpec
	Aliases  []Alias
	Includes []Include
	// Errors are syntax errors; sudo refuses to run when it finds one.
	Errors []*LineError
}

// Include is an @include / #include / @includedir / #includedir directive.
type Include struct {
	Path string
	Dir  bool
	Line int
}

// Alias is a User_Alias, Runas_Alias, Host_Alias or Cmnd_Alias definition.
type Alias struct {
	Kind    string // "User_Alias", ... ("Cmd_Alias" is reported as "Cmnd_Alias")
	Name    string
	Members []string // for Cmnd_Alias: the commands, "!" kept
	Line    int
}

// UserSpec is one "who where = (as whom) what" line.
type UserSpec struct {
	Users []string
	Privs []Privilege
	Line  int
}

// Privilege is one "hosts = commands" part of a user specification.
type Privilege struct {
	Hosts []string
	Cmnds []CmndSpec
}

// CmndSpec is one command with the run-as list and tags in force for it.
type CmndSpec struct {
	Runas    string
	Nopasswd bool
	Negated  bool
	Cmnd     string
}

// sudoersSyntax is compiled on first use: only a scan that reads sudoers pays.
var sudoersSyntax = sync.OnceValue(func() *sudoersRegexps {
	return &sudoersRegexps{
		defaultsRe: regexp.MustCompile(`^Defaults([:@!>\s]|$)`),
		aliasRe:    regexp.MustCompile(`^(User_Alias|Runas_Alias|Host_Alias|Cmnd_Alias|Cmd_Alias)\s+`),
		aliasName:  regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`),
		includeRe:  regexp.MustCompile(`^[@#](include|includedir)[ \t]+`),
		tagRe:      regexp.MustCompile(`^(NOPASSWD|PASSWD|NOEXEC|EXEC|SETENV|NOSETENV|LOG_INPUT|NOLOG_INPUT|LOG_OUTPUT|NOLOG_OUTPUT|MAIL|NOMAIL|FOLLOW|NOFOLLOW|INTERCEPT|NOINTERCEPT)[ \t]*:`),
		optionRe:   regexp.MustCompile(`^(ROLE|TYPE|CWD|CHROOT|TIMEOUT|NOTBEFORE|NOTAFTER|APPARMOR_PROFILE|PRIVS|LIMITPRIVS)=`),
		digestRe:   regexp.MustCompile(`^(sha224|sha256|sha384|sha512):`),
	}
})

type sudoersRegexps struct {
	defaultsRe, aliasRe, aliasName, includeRe, tagRe, optionRe, digestRe *regexp.Regexp
}

// ParseSudoers parses one sudoers file. It never fails as a whole: syntax
// errors are collected per line and the rest of the file is still read.
func ParseSudoers(file string, data []byte) *SudoFile {
	sf := &SudoFile{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		// A backslash at the end of a line continues it.
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimSuffix(lines[i], "\r")
		}
		line = strings.TrimLeft(line, " \t")
		if m := sudoersSyntax().includeRe.FindStringSubmatch(line); m != nil {
			p, err := includePath(line[len(m[0]):])
			if err != nil {
				sf.Errors = append(sf.Errors, &LineError{file, n, err.Error()})
				continue
			}
			sf.Includes = append(sf.Includes, Include{Path: p, Dir: m[1] == "includedir", Line: n})
			continue
		}
		line = strings.TrimRight(stripComment(line), " \t")
		if line == "" || sudoersSyntax().defaultsRe.MatchString(line) {
			continue
		}
		if strings.ContainsRune(line, 0) {
			sf.Errors = append(sf.Errors, &LineError{file, n, "binary data (NUL byte)"})
			continue
		}
		var err error
		if m := sudoersSyntax().aliasRe.FindStringSubmatch(line); m != nil {
			err = sf.parseAlias(m[1], line[len(m[0]):], n)
		} else {
			err = sf.parseUserSpec(line, n)
		}
		if err != nil {
			sf.Errors = append(sf.Errors, &LineError{file, n, "syntax error: " + err.Error()})
		}
	}
	return sf
}

// stripComment cuts a comment: a "#" at the start of a token, unless it
// begins a numeric uid or gid ("#0", "#-1"), which sudoers allows in lists.
func stripComment(s string) string {
	esc, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == '#' && !quoted && (i == 0 || strings.IndexByte(" \t,=:(!", s[i-1]) >= 0):
			rest := s[i+1:]
			if len(rest) > 0 && (isDigit(rest[0]) || rest[0] == '-' && len(rest) > 1 && isDigit(rest[1])) {
				continue
			}
			return s[:i]
		}
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// includePath reads the path of an include directive: quoted, or up to
// white space with "\ " escapes. "%%" stands for "%" ("%h" is expanded by
// the reader, which knows the host name).
func includePath(s string) (string, error) {
	s = strings.TrimRight(s, " \t")
	var b strings.Builder
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case c == '"':
				if strings.TrimSpace(s[i+1:]) != "" {
					return "", fmt.Errorf("text after the quoted include path")
				}
				return checkIncludePath(b.String())
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated quoted include path")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == ' ' || c == '\t' {
			return "", fmt.Errorf("text after the include path")
		}
		b.WriteByte(c)
	}
	return checkIncludePath(b.String())
}

func checkIncludePath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty include path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("NUL byte in include path")
	}
	return p, nil
}

// scanner walks one logical sudoers line.
type scanner struct {
	s string
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *scanner) eof() bool { return p.i >= len(p.s) }

func (p *scanner) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

// item reads one list member: up to white space or a stop character, with
// backslash escapes and double-quoted parts (names with spaces).
func (p *scanner) item(stop string) string {
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case c == '"':
			end := strings.IndexByte(p.s[p.i+1:], '"')
			if end < 0 {
				b.WriteString(p.s[p.i+1:])
				p.i = len(p.s)
				return b.String()
			}
			b.WriteString(p.s[p.i+1 : p.i+1+end])
			p.i += end + 2
			continue
		case c == ':' && b.String() == "%":
			// "%:group" names a non-Unix group.
		case c == ' ' || c == '\t' || strings.IndexByte(stop, c) >= 0:
			return b.String()
		}
		b.WriteByte(c)
		p.i++
	}
	return b.String()
}

// list reads "a, b ,c": members separated by commas, white space allowed
// around them; it ends at white space not followed by a comma, or at stop.
func (p *scanner) list(stop string) ([]string, error) {
	var out []string
	for {
		p.ws()
		it := p.item(stop + ",")
		if it == "" {
			if p.eof() {
				return nil, fmt.Errorf("unexpected end of line")
			}
			return nil, fmt.Errorf("unexpected %q", p.peek())
		}
		out = append(out, it)
		p.ws()
		if p.peek() != ',' {
			return out, nil
		}
		p.i++
	}
}

func (p *scanner) expect(c byte) error {
	p.ws()
	if p.peek() != c {
		if p.eof() {
			return fmt.Errorf("expected %q, found end of line", c)
		}
		return fmt.Errorf("expected %q, found %q", c, p.peek())
	}
	p.i++
	return nil
}

// cmnds reads a Cmnd_Spec_List up to the end of the line or a ":" that
// starts the next "hosts = commands" part. Run-as lists and tags carry over
// to the following commands, as in sudo.
func (p *scanner) cmnds() ([]CmndSpec, error) {
	var out []CmndSpec
	runas, nopasswd := "", false
	for {
		p.ws()
		if p.peek() == '(' {
			end := strings.IndexByte(p.s[p.i:], ')')
			if end < 0 {
				return nil, fmt.Errorf("unterminated run-as list")
			}
			runas = strings.TrimSpace(p.s[p.i+1 : p.i+end])
			p.i += end + 1
			p.ws()
		}
		for {
			if m := sudoersSyntax().optionRe.FindString(p.s[p.i:]); m != "" {
				p.i += len(m)
				p.item(",:")
				p.ws()
				continue
			}
			if m := sudoersSyntax().tagRe.FindStringSubmatch(p.s[p.i:]); m != nil {
				switch m[1] {
				case "NOPASSWD":
					nopasswd = true
				case "PASSWD":
					nopasswd = false
				}
				p.i += len(m[0])
				p.ws()
				continue
			}
			break
		}
		if m := sudoersSyntax().digestRe.FindStringSubmatch(p.s[p.i:]); m != nil {
			p.i += len(m[0])
			if !validDigest(m[1], p.item(",:")) {
				return nil, fmt.Errorf("malformed %s digest", m[1])
			}
			p.ws()
		}
		spec := CmndSpec{Runas: runas, Nopasswd: nopasswd}
		for p.peek() == '!' {
			spec.Negated = !spec.Negated
			p.i++
			p.ws()
		}
		// A command runs to an unescaped "," or ":"; its arguments may hold
		// spaces.
		start, esc := p.i, false
		for ; !p.eof(); p.i++ {
			c := p.s[p.i]
			if esc {
				esc = false
				continue
			}
			if c == '\\' {
				esc = true
				continue
			}
			if c == ',' || c == ':' {
				break
			}
		}
		spec.Cmnd = strings.TrimSpace(p.s[start:p.i])
		if spec.Cmnd == "" {
			return nil, fmt.Errorf("missing command")
		}
		out = append(out, spec)
		if p.peek() != ',' {
			return out, nil
		}
		p.i++
	}
}

// digestLen is the hex and base64 length of each digest sudo accepts.
var digestLen = map[string][2]int{"sha224": {56, 40}, "sha256": {64, 44}, "sha384": {96, 64}, "sha512": {128, 88}}

func validDigest(alg, v string) bool {
	l := digestLen[alg]
	if len(v) == l[0] {
		for _, c := range v {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	if len(v) == l[1] {
		for _, c := range v {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
				return false
			}
		}
		return true
	}
	return false
}

func (sf *SudoFile) parseUserSpec(line string, n int) error {
	p := &scanner{s: line}
	users, err := p.list("=:()")
	if err != nil {
		return err
	}
	spec := UserSpec{Users: users, Line: n}
	for {
		hosts, err := p.list("=:()")
		if err != nil {
			return err
		}
		if err := p.expect('='); err != nil {
			return err
		}
		cmnds, err := p.cmnds()
		if err != nil {
			return err
		}
		spec.Privs = append(spec.Privs, Privilege{Hosts: hosts, Cmnds: cmnds})
		if p.eof() {
			break
		}
		if err := p.expect(':'); err != nil {
			return err
		}
	}
	sf.Specs = append(sf.Specs, spec)
	return nil
}

// parseAlias reads "NAME = members [: NAME = members]...".
func (sf *SudoFile) parseAlias(kind, rest string, n int) error {
	if kind == "Cmd_Alias" {
		kind = "Cmnd_Alias"
	}
	p := &scanner{s: rest}
	for {
		p.ws()
		name := p.item("=:,")
		if !sudoersSyntax().aliasName.MatchString(name) {
			return fmt.Errorf("invalid %s name (want an upper-case letter, then upper-case letters, digits or _)", kind)
		}
		if err := p.expect('='); err != nil {
			return err
		}
		a := Alias{Kind: kind, Name: name, Line: n}
		if kind == "Cmnd_Alias" {
			cs, err := p.cmnds()
			if err != nil {
				return err
			}
			for _, c := range cs {
				m := c.Cmnd
				if c.Negated {
					m = "!" + m
				}
				a.Members = append(a.Members, m)
			}
		} else {
			ms, err := p.list(":=")
			if err != nil {
				return err
			}
			a.Members = ms
		}
		sf.Aliases = append(sf.Aliases, a)
		p.ws()
		if p.eof() {
			return nil
		}
		if err := p.expect(':'); err != nil {
			return err
		}
	}
}
