package sshd

import "strings"

// connInfo is sshd's connection_info in test mode: an empty field is one the
// test specification left out, which no Match criterion matches. lport 0 is
// a missing local port, which sshd -T treats as a fatal error when a Match
// LocalPort line is evaluated.
type connInfo struct {
	user, host, addr, laddr, rdomain string
	lport                            int
}

// MatchBlock is one Match line of the configuration.
type MatchBlock struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Criteria string `json:"criteria"`
	// Never is set for a Match inside an Include that itself sits in a Match
	// block: sshd never activates it (SSHCFG_NEVERMATCH).
	Never bool `json:"-"`
}

func (p *parser) matchProblem(file string, line int, msg string) {
	p.problems = append(p.problems, Problem{File: file, Line: line, Message: msg})
}

// matchCfgLine is match_cfg_line: 1 when every criterion matches, 0 when
// one does not, -1 on a malformed line. ci nil is the syntax-only check of
// the first pass.
func (p *parser) matchCfgLine(cur *replay, file string, line int, ci *connInfo) (int, error) {
	result, attributes := 1, 0
	for {
		attrib, ok := cur.next()
		if !ok || attrib == "" {
			break
		}
		if attrib[0] == '#' {
			cur.null = true
			break
		}
		attributes++
		if strings.EqualFold(attrib, "all") {
			arg, ok := cur.next()
			if attributes > 1 || (ok && arg != "" && arg[0] != '#') {
				p.matchProblem(file, line, "'all' cannot be combined with other Match attributes")
				return -1, nil
			}
			if ok && arg != "" && arg[0] == '#' {
				cur.null = true
			}
			return 1, nil
		}
		arg, ok := cur.next()
		if !ok || arg == "" || arg[0] == '#' {
			p.matchProblem(file, line, "Missing Match criteria for "+attrib)
			return -1, nil
		}
		switch strings.ToLower(attrib) {
		case "user":
			if ci == nil || ci.user == "" {
				result = 0
				continue
			}
			if matchPatternList(ci.user, arg, false) != 1 {
				result = 0
			}
		case "group":
			if ci == nil || ci.user == "" {
				result = 0
				continue
			}
			if p.host.matchGroup(arg, ci.user) != 1 {
				result = 0
			}
		case "host":
			if ci == nil || ci.host == "" {
				result = 0
				continue
			}
			if matchPatternList(strings.ToLower(ci.host), arg, true) != 1 {
				result = 0
			}
		case "address", "localaddress":
			what, val := "address", ""
			if ci != nil {
				val = ci.addr
			}
			if strings.EqualFold(attrib, "localaddress") {
				what = "localaddress"
				if ci != nil {
					val = ci.laddr
				}
			}
			if val == "" {
				if addrMatchList("", arg) != 0 {
					return 0, p.fatal(file, line, "Invalid Match %s argument '%s' at line %d", what, arg, line)
				}
				result = 0
				continue
			}
			switch addrMatchListCached(val, arg, p.cidrs) {
			case 1:
			case 0, -1:
				result = 0
			case -2:
				return -1, nil
			}
		case "localport":
			port := p.a2port(arg)
			if port == -1 {
				p.matchProblem(file, line, "Invalid LocalPort '"+arg+"' on Match line")
				return -1, nil
			}
			if ci == nil {
				result = 0
				continue
			}
			if ci.lport == 0 {
				return 0, p.fatal(file, line, "'Match LocalPort' in configuration but 'lport' not in connection test specification.")
			}
			if port != ci.lport {
				result = 0
			}
		case "rdomain":
			if ci == nil || ci.rdomain == "" {
				result = 0
				continue
			}
			if matchPatternList(ci.rdomain, arg, false) != 1 {
				result = 0
			}
		default:
			p.matchProblem(file, line, "Unsupported Match attribute "+attrib)
			return -1, nil
		}
	}
	if attributes == 0 {
		p.matchProblem(file, line, "One or more attributes required for Match")
		return -1, nil
	}
	return result, nil
}

// tokens records every strdelim result over a Match line once, so that
// evaluating the line for many connections does not tokenise it again.
type tokens struct {
	toks  []string
	rests []string
	nulls []bool
}

func tokenize(s string) *tokens {
	t := &tokens{}
	c := &cursor{s: s}
	for !c.null {
		tok, ok := strdelim(c)
		if !ok {
			break
		}
		t.toks = append(t.toks, tok)
		t.rests = append(t.rests, c.s)
		t.nulls = append(t.nulls, c.null)
	}
	return t
}

// replay walks recorded tokens as strdelim would walk the string.
type replay struct {
	t    *tokens
	i    int
	s    string
	null bool
}

func newReplay(t *tokens, s string) *replay { return &replay{t: t, s: s} }

func (r *replay) next() (string, bool) {
	if r.null {
		return "", false
	}
	if r.i >= len(r.t.toks) {
		r.null = true
		return "", false
	}
	tok := r.t.toks[r.i]
	r.s, r.null = r.t.rests[r.i], r.t.nulls[r.i]
	r.i++
	return tok, true
}
