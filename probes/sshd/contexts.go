package sshd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Context is one kind of connection a user can make, with the effective
// configuration sshd applies to it.
type Context struct {
	// Block is the Match block this context was built to enter; nil for a
	// connection no Match criterion singles out (the global settings).
	Block *MatchBlock
	// Conn is a concrete connection in this context.
	Conn   ConnSpec
	Config *Config
}

// Describe names the context for a finding.
func (c *Context) Describe() string {
	if c.Block == nil {
		return "global settings (no Match block applies)"
	}
	return "Match " + c.Block.Criteria + " (" + c.Block.File + " line " + strconv.Itoa(c.Block.Line) + ")"
}

// maxContextWork bounds Match blocks times configuration lines.
const maxContextWork = 20_000_000

// Neutral connection values: documentation addresses that no sane Match
// block names, so the baseline context sees the global settings.
const (
	neutralAddr  = "192.0.2.10"
	neutralLAddr = "192.0.2.1"
)

// RootContexts returns every context a root connection can reach: the
// global one and, for each Match block root can enter, a connection that
// enters it. Match blocks root can never enter (User lists without root,
// Group lists without root's groups, blocks inside a Match'd Include) are
// left out. configPath "" is /etc/ssh/sshd_config.
func RootContexts(root *hostfs.Root, configPath string) ([]Context, error) {
	return UserContexts(root, configPath, "root")
}

// UserContexts is RootContexts for one user; user "" lets each context
// pick a user its Match block accepts (every user's contexts).
func UserContexts(root *hostfs.Root, configPath, user string) ([]Context, error) {
	e, err := load(root, configPath)
	if err != nil {
		return nil, err
	}
	return e.contexts(user)
}

// anyUser is the baseline user when contexts are not tied to one user: a
// name no Match User pattern is likely to list.
const anyUser = "nodeguard-probe-user"

func (e *evaluator) contexts(user string) ([]Context, error) {
	fixedUser := user != ""
	if !fixedUser {
		user = anyUser
	}
	// Each context re-parses the whole configuration: bound the total work
	// so that a hostile configuration cannot stall the agent.
	if work := (len(e.p.blocks) + 1) * e.p.lines; work > maxContextWork {
		return nil, fmt.Errorf("%s: %d Match blocks over %d configuration lines are too many to evaluate one by one", e.main, len(e.p.blocks), e.p.lines)
	}
	port := 22
	if len(e.global.ports) > 0 {
		port = e.global.ports[0]
	}
	base := ConnSpec{User: user, Host: neutralAddr, Addr: neutralAddr, LocalAddr: neutralLAddr, LocalPort: port}
	cfg, err := e.evaluate(base)
	if err != nil {
		return nil, err
	}
	out := []Context{{Conn: base, Config: cfg}}
	for i := range e.p.blocks {
		b := e.p.blocks[i]
		if b.Never {
			continue
		}
		conn, ok := e.witness(b, base, !fixedUser)
		if !ok {
			continue
		}
		cfg, err := e.evaluate(conn)
		if err != nil {
			return nil, err
		}
		entered := false
		for _, m := range cfg.Matched {
			if m.File == b.File && m.Line == b.Line {
				entered = true
				break
			}
		}
		if entered {
			out = append(out, Context{Block: &b, Conn: conn, Config: cfg})
		}
	}
	return out, nil
}

// witness builds a connection that satisfies every criterion of a Match
// line, starting from base; ok is false when none can for this user.
func (e *evaluator) witness(b MatchBlock, base ConnSpec, pickUser bool) (ConnSpec, bool) {
	c := base
	cur := &cursor{s: b.Criteria}
	for {
		attrib, ok := strdelim(cur)
		if !ok || attrib == "" || attrib[0] == '#' {
			break
		}
		if strings.EqualFold(attrib, "all") {
			return c, true
		}
		arg, ok := strdelim(cur)
		if !ok {
			return c, false
		}
		switch strings.ToLower(attrib) {
		case "user":
			if matchPatternList(c.User, arg, false) == 1 {
				continue
			}
			if !pickUser {
				return c, false
			}
			u, ok := patternWitness(arg, false, func(s string) bool { return matchPatternList(s, arg, false) == 1 })
			if !ok {
				return c, false
			}
			c.User = u
		case "group":
			if e.p.host.matchGroup(arg, c.User) == 1 {
				continue
			}
			if !pickUser {
				return c, false
			}
			u, ok := e.p.host.userInGroups(arg)
			if !ok {
				return c, false
			}
			c.User = u
		case "host":
			h, ok := patternWitness(arg, true, func(s string) bool {
				return matchPatternList(strings.ToLower(s), arg, true) == 1
			})
			if !ok {
				return c, false
			}
			c.Host = h
		case "address", "localaddress":
			a, ok := addrWitness(arg)
			if !ok {
				return c, false
			}
			if strings.EqualFold(attrib, "address") {
				c.Addr = a
			} else {
				c.LocalAddr = a
			}
		case "localport":
			p := e.p.a2port(arg)
			if p <= 0 {
				return c, false
			}
			c.LocalPort = p
		case "rdomain":
			r, ok := patternWitness(arg, false, func(s string) bool { return matchPatternList(s, arg, false) == 1 })
			if !ok {
				return c, false
			}
			c.RDomain = r
		default:
			return c, false
		}
	}
	return c, true
}

// patternWitness finds a string a pattern list accepts, by filling the
// wildcards of each positive entry.
func patternWitness(list string, lower bool, ok func(string) bool) (string, bool) {
	for _, p := range strings.Split(list, ",") {
		if p == "" || p[0] == '!' {
			continue
		}
		for _, fill := range []string{"a", "x1", "node-1"} {
			s := strings.NewReplacer("*", fill, "?", "a").Replace(p)
			if lower {
				s = strings.ToLower(s)
			}
			if ok(s) {
				return s, true
			}
		}
	}
	return "", false
}

// addrWitness finds an address an address list accepts: a host inside each
// positive CIDR entry, or a filled-in wildcard pattern.
func addrWitness(list string) (string, bool) {
	accept := func(s string) bool { return addrMatchList(s, list) == 1 }
	for _, p := range strings.Split(list, ",") {
		if p == "" || p[0] == '!' {
			continue
		}
		if pfx, r := parseCIDR(p); r == 0 {
			a := pfx.Addr()
			cands := []netip.Addr{a}
			if pfx.Bits() < a.BitLen() {
				cands = []netip.Addr{a.Next(), a} // a host, not the network address
			}
			for _, c := range cands {
				if c.IsValid() && accept(c.String()) {
					return c.String(), true
				}
			}
			continue
		}
		for _, fill := range []string{"1", "1.1", "1.1.1", "10"} {
			s := strings.NewReplacer("*", fill, "?", "1").Replace(p)
			if _, err := netip.ParseAddr(s); err == nil && accept(s) {
				return s, true
			}
		}
	}
	return "", false
}
