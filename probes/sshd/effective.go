// Package sshd computes sshd's effective configuration the way OpenSSH 9.2
// does (first value wins, Include, Match with every criterion, sshd's own
// defaults and refusals) and judges it against the sshd policy section.
//
// Other probes use Effective and RootContexts to ask what sshd would do for
// a given connection, for instance whether root can log in with a key.
package sshd

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// DefaultConfigPath is where sshd reads its configuration.
const DefaultConfigPath = "/etc/ssh/sshd_config"

// ConnSpec describes a connection as `sshd -T -C` does: an empty field is
// one the specification leaves out (no Match criterion on it matches), and
// LocalPort 0 leaves out the local port, which makes a Match LocalPort line
// an error exactly as it is for sshd -T.
type ConnSpec struct {
	User, Host, Addr, LocalAddr string
	LocalPort                   int
	RDomain                     string
}

// String renders the spec as sshd's -C argument.
func (c ConnSpec) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("user", c.User)
	add("host", c.Host)
	add("addr", c.Addr)
	add("laddr", c.LocalAddr)
	if c.LocalPort != 0 {
		add("lport", strconv.Itoa(c.LocalPort))
	}
	add("rdomain", c.RDomain)
	return strings.Join(parts, ",")
}

// ParseConnSpec parses sshd's -C syntax: user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R.
func ParseConnSpec(s string) (ConnSpec, error) {
	var c ConnSpec
	for _, p := range strings.Split(s, ",") {
		if p == "" {
			break // sshd stops at an empty element
		}
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "user":
			c.User = v
		case "host":
			c.Host = v
		case "addr":
			c.Addr = v
		case "laddr":
			c.LocalAddr = v
		case "rdomain":
			c.RDomain = v
		case "lport":
			n, e := strtonum(v, 0, 65535)
			if e != "" {
				return c, fmt.Errorf("Invalid port '%s' in test mode specification %s", v, p)
			}
			c.LocalPort = int(n)
		default:
			return c, fmt.Errorf("Invalid test mode specification %s", p)
		}
	}
	return c, nil
}

// Config is the effective configuration for one connection.
type Config struct {
	// Conn is the connection it was computed for.
	Conn ConnSpec
	// Files are the configuration files read, main file first.
	Files []string
	// Matched are the Match blocks the connection entered, in order.
	Matched []MatchBlock

	lines  []kv
	values map[string][]string
	opts   *options
}

type kv struct{ key, value string }

// Get returns a keyword's effective value as sshd -T prints it. keyword is
// lower-case. Keywords printed on several lines (port, listenaddress,
// allowusers, ...) come back joined by single spaces; "" means not set.
func (c *Config) Get(keyword string) string {
	return strings.Join(c.values[keyword], " ")
}

// Values returns every line's value of a keyword, in sshd -T's order.
func (c *Config) Values(keyword string) []string {
	return append([]string(nil), c.values[keyword]...)
}

// Lines returns the configuration in sshd -T's format, one "keyword value"
// per line, for the keywords nodeguard evaluates.
func (c *Config) Lines() []string {
	out := make([]string, len(c.lines))
	for i, l := range c.lines {
		out[i] = l.key + " " + l.value
	}
	return out
}

// Source tells where the effective value of keyword was set; ok is false
// when it is OpenSSH's default.
func (c *Config) Source(keyword string) (file string, line int, ok bool) {
	op, known := printedOps[keyword]
	if !known {
		return "", 0, false
	}
	s, ok := c.opts.src[op]
	if !ok || s.File == "" {
		return "", 0, false
	}
	return s.File, s.Line, true
}

var printedOps = map[string]opcode{
	"usepam": sUsePAM, "logingracetime": sLoginGraceTime, "maxauthtries": sMaxAuthTries,
	"maxsessions": sMaxSessions, "clientaliveinterval": sClientAliveInterval,
	"clientalivecountmax": sClientAliveCountMax, "permitrootlogin": sPermitRootLogin,
	"ignorerhosts": sIgnoreRhosts, "hostbasedauthentication": sHostbasedAuthentication,
	"pubkeyauthentication": sPubkeyAuthentication, "passwordauthentication": sPasswordAuthentication,
	"kbdinteractiveauthentication": sKbdInteractiveAuthentication, "x11forwarding": sX11Forwarding,
	"permitemptypasswords": sEmptyPasswd, "allowtcpforwarding": sAllowTcpForwarding,
	"allowagentforwarding": sAllowAgentForwarding, "ciphers": sCiphers, "macs": sMacs,
	"kexalgorithms": sKexAlgorithms, "allowusers": sAllowUsers, "denyusers": sDenyUsers,
	"allowgroups": sAllowGroups, "denygroups": sDenyGroups, "permittunnel": sPermitTunnel,
	"permituserenvironment": sPermitUserEnvironment, "addressfamily": sAddressFamily,
}

// evaluator holds the first pass, which does not depend on the connection,
// so that many connections can be evaluated cheaply.
type evaluator struct {
	p      *parser
	global *options
	main   string
	buf    string
	files  []string
}

// load runs sshd's first pass over configPath and its checks.
func load(root *hostfs.Root, configPath string) (*evaluator, error) {
	if configPath == "" {
		configPath = DefaultConfigPath
	}
	p := &parser{root: root, host: newHostDB(root)}
	buf, err := p.load(configPath)
	if err != nil {
		return nil, err
	}
	return p.firstPass(configPath, buf)
}

// firstPass parses the main file's buffer; includes come from the root.
func (p *parser) firstPass(configPath, buf string) (*evaluator, error) {
	o := newOptions()
	active := true
	if err := p.parseDepth(o, configPath, buf, nil, 0, &active, 0); err != nil {
		return nil, p.refusal(err)
	}
	if err := p.resolveListens(o); err != nil {
		return nil, p.refusal(err)
	}
	if failed := o.fillDefaults(); failed != "" {
		return nil, p.refusal(p.fatal("", 0, "assemble_algorithms: %s: invalid argument", failed))
	}
	if err := p.checkGlobal(o); err != nil {
		return nil, p.refusal(err)
	}
	return &evaluator{p: p, global: o, main: configPath, buf: buf, files: append([]string(nil), p.files...)}, nil
}

// refusal turns a parse failure into the error callers see.
func (p *parser) refusal(err error) error {
	var f *fatalErr
	if errors.As(err, &f) {
		return &RefusedError{Problems: append(append([]Problem(nil), p.problems...), f.Problem)}
	}
	return err
}

// checkGlobal is what sshd's main() checks after the first pass.
func (p *parser) checkGlobal(o *options) error {
	for _, c := range []struct{ cmd, user opcode }{
		{sAuthorizedKeysCommand, sAuthorizedKeysCommandUser},
		{sAuthorizedPrincipalsCommand, sAuthorizedPrincipalsCommandUser},
	} {
		cmd, ok := o.str(c.cmd)
		if _, hasUser := o.str(c.user); ok && !hasUser && !strings.EqualFold(cmd, "none") {
			name := "AuthorizedKeysCommand set without AuthorizedKeysCommandUser"
			if c.cmd == sAuthorizedPrincipalsCommand {
				name = "AuthorizedPrincipalsCommand set without AuthorizedPrincipalsCommandUser"
			}
			s := o.src[c.cmd]
			return p.fatal(s.File, s.Line, "%s", name)
		}
	}
	if methods := o.lists[sAuthenticationMethods]; len(methods) > 0 {
		var errs []Problem
		ok := false
		for _, m := range methods {
			if msg := authMethodsValid(m, o); msg != "" {
				errs = append(errs, Problem{Message: msg})
				continue
			}
			ok = true
			break
		}
		if !ok {
			p.problems = append(p.problems, errs...)
			s := o.src[sAuthenticationMethods]
			return p.fatal(s.File, s.Line, "AuthenticationMethods cannot be satisfied by enabled authentication methods")
		}
	}
	return nil
}

// evaluate runs the second pass for one connection.
func (e *evaluator) evaluate(conn ConnSpec) (*Config, error) {
	ci := &connInfo{user: conn.User, host: conn.Host, addr: conn.Addr, laddr: conn.LocalAddr, lport: conn.LocalPort, rdomain: conn.RDomain}
	if e.p.lexed == nil {
		e.p.lexed = map[string][]lexedLine{}
	}
	if e.p.cidrs == nil {
		e.p.cidrs = map[string]cidrEntry{}
	}
	p := &parser{root: e.p.root, host: e.p.host, includes: e.p.includes, lexed: e.p.lexed, cidrs: e.p.cidrs}
	mo := newOptions()
	active := false
	if err := p.parseDepth(mo, reprocessLabel, e.buf, ci, incMatchOnly, &active, 0); err != nil {
		return nil, p.refusal(err)
	}
	// The second pass names the main file "reprocess config", as sshd does
	// in its messages; sources and Match blocks get the real name back.
	for op, s := range mo.src {
		if s.File == reprocessLabel {
			s.File = e.main
			mo.src[op] = s
		}
	}
	for i := range p.matched {
		if p.matched[i].File == reprocessLabel {
			p.matched[i].File = e.main
		}
	}
	o := e.global.clone()
	o.copySet(mo)
	c := &Config{Conn: conn, Files: e.files, Matched: p.matched, opts: o}
	c.build()
	return c, nil
}

// Effective computes the configuration sshd applies to a connection, like
// `sshd -T -f configPath -C conn`. configPath "" is /etc/ssh/sshd_config.
// A configuration sshd would refuse returns a *RefusedError naming the file
// and line; one nodeguard cannot read returns a *ReadError.
func Effective(root *hostfs.Root, configPath string, conn ConnSpec) (*Config, error) {
	e, err := load(root, configPath)
	if err != nil {
		return nil, err
	}
	return e.evaluate(conn)
}

// resolveListens is process_queued_listen_addrs plus the default listener,
// for numeric addresses. Host names are kept as written: nodeguard does not
// resolve names on behalf of the host.
func (p *parser) resolveListens(o *options) error {
	if len(o.ports) == 0 {
		o.ports = []int{22}
	}
	af := o.int(sAddressFamily)
	if af == -1 {
		af = afUnspec
	}
	groups := map[string]int{}
	add := func(rdomain string, entries []string) {
		i, ok := groups[rdomain]
		if !ok {
			i = len(o.listenAddrs)
			groups[rdomain] = i
			o.listenAddrs = append(o.listenAddrs, listenAddr{rdomain: rdomain})
		}
		o.listenAddrs[i].entries = append(o.listenAddrs[i].entries, entries...)
	}
	for _, q := range o.listens {
		ports := o.ports
		if q.port > 0 {
			ports = []int{q.port}
		}
		for _, port := range ports {
			entry, err := formatListen(q.addr, port, af)
			if err != "" {
				return p.fatal(q.file, q.line, "bad addr or host: %s (%s)", q.addr, err)
			}
			add(q.rdomain, []string{entry})
		}
	}
	if len(o.listenAddrs) == 0 {
		for _, port := range o.ports {
			var entries []string
			if af != afInet {
				entries = append(entries, fmt.Sprintf("[::]:%d", port))
			}
			if af != afInet6 {
				entries = append(entries, fmt.Sprintf("0.0.0.0:%d", port))
			}
			add("", entries)
		}
	}
	return nil
}

// formatListen renders one resolved ListenAddress like getnameinfo does.
func formatListen(host string, port, af int) (string, string) {
	a, ok := parseAddr(host)
	if !ok {
		return fmt.Sprintf("%s:%d", host, port), ""
	}
	if a.Is4() && af == afInet6 || !a.Is4() && af == afInet {
		return "", "Address family for hostname not supported"
	}
	if a.Is4() {
		return fmt.Sprintf("%s:%d", a, port), ""
	}
	return fmt.Sprintf("[%s]:%d", ntop6(a), port), ""
}

// ntop6 formats like glibc's inet_ntop, which writes ::a.b.c.d for
// IPv4-compatible addresses where Go writes ::hhhh:hhhh.
func ntop6(a netip.Addr) string {
	b := a.As16()
	zero := true
	for i := 0; i < 12; i++ {
		if b[i] != 0 {
			zero = false
			break
		}
	}
	if zero && (b[12] != 0 || b[13] != 0) {
		s := fmt.Sprintf("::%d.%d.%d.%d", b[12], b[13], b[14], b[15])
		if a.Zone() != "" {
			s += "%" + a.Zone()
		}
		return s
	}
	return a.String()
}

// build renders the options as sshd's dump_config does.
func (c *Config) build() {
	o := c.opts
	c.values = map[string][]string{}
	put := func(k, v string) {
		c.lines = append(c.lines, kv{k, v})
		c.values[k] = append(c.values[k], v)
	}
	flag := func(op opcode) string { return msFlag.format(o.int(op)) }
	for _, p := range o.ports {
		put("port", strconv.Itoa(p))
	}
	put("addressfamily", msAddressFamily.format(o.int(sAddressFamily)))
	for _, la := range o.listenAddrs {
		for _, e := range la.entries {
			if la.rdomain != "" {
				e += " rdomain " + la.rdomain
			}
			put("listenaddress", e)
		}
	}
	put("usepam", flag(sUsePAM))
	put("logingracetime", strconv.Itoa(o.int(sLoginGraceTime)))
	put("maxauthtries", strconv.Itoa(o.int(sMaxAuthTries)))
	put("maxsessions", strconv.Itoa(o.int(sMaxSessions)))
	put("clientaliveinterval", strconv.Itoa(o.int(sClientAliveInterval)))
	put("clientalivecountmax", strconv.Itoa(o.int(sClientAliveCountMax)))
	put("permitrootlogin", msPermitRootLogin.format(o.int(sPermitRootLogin)))
	put("ignorerhosts", msIgnoreRhosts.format(o.int(sIgnoreRhosts)))
	put("hostbasedauthentication", flag(sHostbasedAuthentication))
	put("pubkeyauthentication", flag(sPubkeyAuthentication))
	put("passwordauthentication", flag(sPasswordAuthentication))
	put("kbdinteractiveauthentication", flag(sKbdInteractiveAuthentication))
	put("x11forwarding", flag(sX11Forwarding))
	put("permitemptypasswords", flag(sEmptyPasswd))
	put("allowtcpforwarding", msTCPFwd.format(o.int(sAllowTcpForwarding)))
	put("allowagentforwarding", flag(sAllowAgentForwarding))
	put("ciphers", o.strs[sCiphers])
	put("macs", o.strs[sMacs])
	put("kexalgorithms", o.strs[sKexAlgorithms])
	for _, k := range []struct {
		name string
		op   opcode
	}{{"allowusers", sAllowUsers}, {"denyusers", sDenyUsers}, {"allowgroups", sAllowGroups}, {"denygroups", sDenyGroups}} {
		for _, v := range o.lists[k.op] {
			put(k.name, v)
		}
	}
	tun := "none"
	for _, m := range tunModes {
		if m.val == o.int(sPermitTunnel) {
			tun = m.key
			break
		}
	}
	put("permittunnel", tun)
	if o.permitUserEnv != nil {
		put("permituserenvironment", *o.permitUserEnv)
	} else {
		put("permituserenvironment", flag(sPermitUserEnvironment))
	}
}

// PrintedKeywords are the keywords Lines prints, in sshd -T's order.
var PrintedKeywords = []string{
	"port", "addressfamily", "listenaddress", "usepam", "logingracetime", "maxauthtries",
	"maxsessions", "clientaliveinterval", "clientalivecountmax", "permitrootlogin",
	"ignorerhosts", "hostbasedauthentication", "pubkeyauthentication", "passwordauthentication",
	"kbdinteractiveauthentication", "x11forwarding", "permitemptypasswords",
	"allowtcpforwarding", "allowagentforwarding", "ciphers", "macs", "kexalgorithms",
	"allowusers", "denyusers", "allowgroups", "denygroups", "permittunnel",
	"permituserenvironment",
}
