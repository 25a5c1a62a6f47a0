package sshd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Problem is one diagnostic as sshd prints it, with where it points.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// RefusedError means sshd would refuse to start with this configuration.
// Problems are the lines sshd prints, in order; the last one is fatal.
type RefusedError struct {
	Problems []Problem
}

func (e *RefusedError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return "sshd refuses the configuration: " + strings.Join(msgs, "; ")
}

// Where returns the file and line of the first problem that names one.
func (e *RefusedError) Where() (string, int) {
	for _, p := range e.Problems {
		if p.File != "" {
			return p.File, p.Line
		}
	}
	return "", 0
}

// fatalErr stops parsing, as sshd's fatal() does.
type fatalErr struct{ Problem }

func (f *fatalErr) Error() string { return f.Message }

// errBad marks a line sshd reports and counts, then keeps parsing.
var errBad = errors.New("bad configuration option")

// Limits that keep a hostile configuration from hanging the agent. sshd
// itself has only the include depth limit.
const (
	maxDepth       = 16 // SERVCONF_MAX_DEPTH
	maxIncludes    = 4096
	maxLines       = 2_000_000
	maxPorts       = 256
	sshDir         = "/etc/ssh"
	reprocessLabel = "reprocess config"
)

// Include flags (SSHCFG_NEVERMATCH, SSHCFG_MATCH_ONLY).
const (
	incNeverMatch = 1 << iota
	incMatchOnly
)

type includeItem struct {
	selector string
	filename string // "" records a glob that matched nothing
	contents string
}

// parser holds what both passes share: the include cache and the host.
type parser struct {
	root     *hostfs.Root
	includes []includeItem
	problems []Problem
	lines    int
	host     *hostDB
	blocks   []MatchBlock // every Match line, from the first pass
	matched  []MatchBlock // the Match lines the second pass entered
	files    []string     // every file read
	lexed    map[string][]lexedLine
	// matchTokens are the current line's Match criteria, if tokenised.
	matchTokens *tokens
	// cidrs caches parsed address list entries across evaluations.
	cidrs map[string]cidrEntry
}

type cidrEntry struct {
	pfx netip.Prefix
	r   int
}

func (p *parser) fatal(file string, line int, format string, args ...any) error {
	return &fatalErr{Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)}}
}

func (p *parser) errorf(file string, line int, format string, args ...any) error {
	p.problems = append(p.problems, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
	return errBad
}

// ReadError is a configuration file nodeguard could not read (missing,
// unreadable, too large, a symlink leading nowhere inside the host root).
type ReadError struct {
	File string
	Err  error
}

func (e *ReadError) Error() string {
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("%s: %v", e.File, pe.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// load reads a configuration file through the host root, at most
// hostfs.DefaultLimit bytes. A directory reads as empty, as fopen+getline on
// one does. One open per file: opening is the dominant cost of an
// evaluation with many includes.
func (p *parser) load(name string) (string, error) {
	f, err := p.root.Open(name)
	if err != nil {
		return "", &ReadError{File: name, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", &ReadError{File: name, Err: err}
	}
	p.files = append(p.files, name)
	if st.IsDir() {
		return "", nil
	}
	const limit = hostfs.DefaultLimit
	if st.Size() > limit {
		return "", &ReadError{File: name, Err: fmt.Errorf("%w of %d bytes", hostfs.ErrTooLarge, int64(limit))}
	}
	buf := make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return "", &ReadError{File: name, Err: fmt.Errorf("%w of %d bytes", hostfs.ErrTooLarge, int64(limit))}
		}
		if err == io.EOF || (n == 0 && err == nil) {
			break
		}
		if err != nil {
			return "", &ReadError{File: name, Err: err}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew: make room
		}
	}
	return loadBuffer(buf), nil
}

// glob expands an Include pattern like glob(3) with no flags. A pattern
// without wildcards is one open instead of a directory lookup; a dangling
// symlink still "matches" and then fails to load, as in sshd.
func (p *parser) glob(pattern string) []string {
	if !strings.ContainsAny(pattern, `*?[\`) {
		if _, err := p.root.Lstat(pattern); err != nil {
			return nil
		}
		return []string{path.Clean(pattern)}
	}
	m, err := p.root.Glob(globPattern(pattern))
	if err != nil {
		return nil
	}
	return m
}

// parseDepth is parse_server_config_depth.
func (p *parser) parseDepth(o *options, filename, buf string, conn *connInfo, flags int, active *bool, depth int) error {
	if depth < 0 || depth > maxDepth {
		return p.fatal(filename, 0, "Too many recursive configuration includes")
	}
	bad := 0
	lines := p.lexFile(filename, buf)
	for i := range lines {
		linenum := i + 1
		p.lines++
		if p.lines > maxLines {
			return p.fatal(filename, linenum, "%s line %d: configuration exceeds %d lines (include expansion too large)", filename, linenum, maxLines)
		}
		if err := p.processLine(o, &lines[i], filename, linenum, active, conn, &flags, depth); err != nil {
			if err != errBad {
				return err
			}
			bad++
		}
	}
	if bad > 0 {
		return p.fatal(filename, 0, "%s: terminating, %d bad configuration options", filename, bad)
	}
	return nil
}

// args is argv_next over a directive's arguments.
type args struct{ av []string }

func (a *args) next() (string, bool) {
	if len(a.av) == 0 {
		return "", false
	}
	s := a.av[0]
	a.av = a.av[1:]
	return s, true
}

func (a *args) consume() { a.av = nil }

// lexedLine is a configuration line tokenised once: both passes, and every
// connection evaluated, parse the same lines.
type lexedLine struct {
	skip    bool // empty, a comment, or dropped by an unterminated quote
	noArg   bool
	kw, str string
	k       keyword
	known   bool
	av      []string
	avOK    bool
	match   *tokens // a Match line's criteria, tokenised
}

func lexLine(line string) lexedLine {
	if line == "" {
		return lexedLine{skip: true}
	}
	line = trimLine(line)
	cur := &cursor{s: line}
	kw, ok := strdelim(cur)
	if !ok {
		return lexedLine{skip: true}
	}
	if kw == "" {
		if kw, ok = strdelim(cur); !ok {
			return lexedLine{skip: true}
		}
	}
	if kw == "" || kw[0] == '#' {
		return lexedLine{skip: true}
	}
	if cur.null || cur.s == "" {
		return lexedLine{noArg: true, kw: kw}
	}
	l := lexedLine{kw: kw, str: cur.s}
	l.k, l.known = keywords[strings.ToLower(kw)]
	l.av, l.avOK = argvSplit(cur.s)
	if l.known && l.k.op == sMatch {
		l.match = tokenize(cur.s)
	}
	return l
}

// lexFile splits and tokenises a buffer, caching by file name.
func (p *parser) lexFile(filename, buf string) []lexedLine {
	if l, ok := p.lexed[filename]; ok {
		return l
	}
	var out []lexedLine
	for rest := buf; ; {
		line, more, found := strings.Cut(rest, "\n")
		out = append(out, lexLine(line))
		if !found {
			break
		}
		rest = more
	}
	if p.lexed == nil {
		p.lexed = map[string][]lexedLine{}
	}
	p.lexed[filename] = out
	return out
}

// processLine is process_server_config_line_depth.
func (p *parser) processLine(o *options, l *lexedLine, filename string, linenum int, active *bool, conn *connInfo, incFlags *int, depth int) error {
	if l.skip {
		return nil
	}
	kw := l.kw
	if l.noArg {
		return p.errorf(filename, linenum, "%s line %d: no argument after keyword \"%s\"", filename, linenum, kw)
	}
	str, k, known := l.str, l.k, l.known
	if !known {
		p.errorf(filename, linenum, "%s: line %d: Bad configuration option: %s", filename, linenum, kw)
	}
	av, ok := l.av, l.avOK
	if !ok {
		return p.errorf(filename, linenum, "%s line %d: invalid quotes", filename, linenum)
	}
	if !*active && k.flags&cfgMatch == 0 {
		if conn == nil {
			return p.fatal(filename, linenum, "%s line %d: Directive '%s' is not allowed within a Match block", filename, linenum, kw)
		}
		return nil // a global directive, already processed in the first pass
	}
	if !known {
		return errBad
	}
	// The second pass only needs what a matching block sets: a directive
	// in an inactive block was already checked, byte for byte, by the
	// first pass. Match lines are evaluated, and top-level Includes read,
	// since their Match blocks may apply.
	if conn != nil && !*active && k.op != sMatch && (k.op != sInclude || *incFlags&incMatchOnly == 0) {
		return nil
	}
	a := &args{av: av}
	o.at = srcLoc{File: filename, Line: linenum}
	p.matchTokens = l.match
	if err := p.directive(o, k.op, kw, str, a, filename, linenum, active, conn, incFlags, depth); err != nil {
		return err
	}
	if len(a.av) > 0 {
		return p.errorf(filename, linenum, "%.200s line %d: keyword %s extra arguments at end of line", filename, linenum, kw)
	}
	return nil
}

func (p *parser) directive(o *options, op opcode, kw, str string, a *args, filename string, linenum int, active *bool, conn *connInfo, incFlags *int, depth int) error {
	fatal := func(format string, args ...any) error {
		return p.fatal(filename, linenum, "%s line %d: "+format, append([]any{filename, linenum}, args...)...)
	}
	missing := func(what string) (string, error) {
		arg, ok := a.next()
		if !ok || arg == "" {
			return "", fatal(what)
		}
		return arg, nil
	}
	switch op {
	case sUsePAM, sIgnoreUserKnownHosts, sHostbasedAuthentication, sHostbasedUsesNameFromPacketOnly,
		sPubkeyAuthentication, sKerberosAuthentication, sKerberosOrLocalPasswd, sKerberosTicketCleanup,
		sGssAuthentication, sGssKeyEx, sGssCleanupCreds, sGssStrictAcceptor, sGssStoreRekey,
		sPasswordAuthentication, sKbdInteractiveAuthentication, sPrintMotd, sPrintLastLog,
		sX11Forwarding, sX11UseLocalhost, sPermitTTY, sPermitUserRC, sStrictModes, sTCPKeepAlive,
		sEmptyPasswd, sUseDNS, sAllowAgentForwarding, sDisableForwarding, sStreamLocalBindUnlink,
		sExposeAuthInfo, sDebianBanner:
		return p.multistate(o, op, msFlag, a, filename, linenum, *active)
	case sAddressFamily:
		return p.multistate(o, op, msAddressFamily, a, filename, linenum, *active)
	case sPermitRootLogin:
		return p.multistate(o, op, msPermitRootLogin, a, filename, linenum, *active)
	case sIgnoreRhosts:
		return p.multistate(o, op, msIgnoreRhosts, a, filename, linenum, *active)
	case sCompression:
		return p.multistate(o, op, msCompression, a, filename, linenum, *active)
	case sGatewayPorts:
		return p.multistate(o, op, msGatewayPorts, a, filename, linenum, *active)
	case sAllowTcpForwarding, sAllowStreamLocalForwarding:
		return p.multistate(o, op, msTCPFwd, a, filename, linenum, *active)

	case sPort:
		if len(o.ports) >= maxPorts {
			return fatal("too many ports.")
		}
		arg, err := missing("missing port number.")
		if err != nil {
			return err
		}
		port := p.a2port(arg)
		if port <= 0 {
			return fatal("Badly formatted port number.")
		}
		o.ports = append(o.ports, port)

	case sLoginGraceTime, sClientAliveInterval:
		return p.parseTime(o, op, a, filename, linenum, *active)

	case sUnusedConnectionTimeout:
		if len(a.av) > 0 && strings.EqualFold(a.av[0], "none") {
			a.next()
			if *active {
				o.setInt(op, 0)
			}
			return nil
		}
		return p.parseTime(o, op, a, filename, linenum, *active)

	case sX11DisplayOffset, sMaxAuthTries, sMaxSessions, sClientAliveCountMax, sRequiredRSASize:
		arg, _ := a.next()
		v, errstr := atoiErr(arg)
		if errstr != "" {
			return fatal("%s integer value %s.", kw, errstr)
		}
		if *active {
			o.setInt(op, v)
		}

	case sListenAddress:
		return p.listenAddress(o, a, filename, linenum)

	case sHostKeyFile, sHostCertificate:
		if _, err := missing("missing file name."); err != nil {
			return err
		}
		if *active && op == sHostKeyFile {
			o.hostKeys++
		}

	case sHostKeyAgent:
		arg, err := missing("missing socket name.")
		if err != nil {
			return err
		}
		if *active {
			o.setStr(op, arg)
		}

	case sPidFile, sModuliFile, sXAuthLocation, sBanner, sTrustedUserCAKeys, sRevokedKeys:
		arg, err := missing("missing file name.")
		if err != nil {
			return err
		}
		if *active {
			o.setStr(op, arg)
		}

	case sHostbasedAcceptedAlgorithms, sHostKeyAlgorithms, sCASignatureAlgorithms, sPubkeyAcceptedAlgorithms:
		arg, err := missing("Missing argument.")
		if err != nil {
			return err
		}
		names := arg
		if names[0] == '+' || names[0] == '^' {
			names = names[1:]
		}
		if arg[0] != '-' && !keyNamesValid(names, op == sCASignatureAlgorithms) {
			return fatal("Bad key types '%s'.", arg)
		}
		if *active {
			o.setStr(op, arg)
		}

	case sPubkeyAuthOptions:
		v := 0
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			switch strings.ToLower(arg) {
			case "none":
			case "touch-required":
				v |= 1
			case "verify-required":
				v |= 2
			default:
				return p.errorf(filename, linenum, "%s line %d: unsupported %s option %s", filename, linenum, kw, arg)
			}
		}
		if *active {
			o.setInt(op, v)
		}

	case sGssKexAlgorithms:
		arg, ok := a.next()
		if !ok || arg == "" {
			return p.fatal(filename, linenum, "%.200s line %d: Missing argument.", filename, linenum)
		}
		if !gssKexNamesValid(arg) {
			return p.fatal(filename, linenum, "%.200s line %d: Bad GSSAPI KexAlgorithms '%s'.", filename, linenum, arg)
		}

	case sPermitUserEnvironment:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		v := 1
		var list *string
		switch arg {
		case "yes":
		case "no":
			v = 0
		default:
			l := arg
			list = &l
		}
		if _, set := o.ints[op]; *active && !set {
			o.ints[op] = v
			o.permitUserEnv = list
		}

	case sRekeyLimit:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		if arg != "default" {
			v, err := scanScaled(arg)
			if err != "" {
				return p.fatal(filename, linenum, "%.200s line %d: Bad %s number '%s': %s", filename, linenum, kw, arg, err)
			}
			if v != 0 && v < 16 {
				return p.fatal(filename, linenum, "%.200s line %d: %s too small", filename, linenum, kw)
			}
		}
		if len(a.av) > 0 {
			if a.av[0] == "none" {
				a.next()
				return nil
			}
			return p.parseTime(o, sRekeyLimit, a, filename, linenum, false)
		}

	case sLogFacility:
		arg, ok := a.next()
		if !validFacility(arg) {
			if !ok {
				arg = "<NONE>"
			}
			return p.fatal(filename, linenum, "%.200s line %d: unsupported log facility '%s'", filename, linenum, arg)
		}

	case sLogLevel:
		arg, ok := a.next()
		if !validLogLevel(arg) {
			if !ok {
				arg = "<NONE>"
			}
			return p.fatal(filename, linenum, "%.200s line %d: unsupported log level '%s'", filename, linenum, arg)
		}

	case sLogVerbose, sAuthorizedKeysFile, sChannelTimeout:
		var vals []string
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			if arg == "" && op != sChannelTimeout {
				return p.errorf(filename, linenum, "%s line %d: keyword %s empty argument", filename, linenum, kw)
			}
			if strings.EqualFold(arg, "none") && op != sAuthorizedKeysFile {
				if len(vals) > 0 || len(a.av) > 0 {
					return p.errorf(filename, linenum, "%s line %d: keyword %s \"none\" argument must appear alone.", filename, linenum, kw)
				}
			} else if op == sChannelTimeout && !validPatternInterval(arg) {
				return fatal("invalid channel timeout %s", arg)
			}
			vals = append(vals, arg)
		}
		if *active && len(o.lists[op]) == 0 && len(vals) > 0 {
			o.lists[op] = vals
			o.src[op] = o.at
		}

	case sAllowUsers, sDenyUsers, sAllowGroups, sDenyGroups:
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			if op == sAllowUsers || op == sDenyUsers {
				if arg == "" || !validUserPattern(arg) {
					return fatal("invalid %s pattern: \"%s\"", kw, arg)
				}
			} else if arg == "" {
				return fatal("empty %s pattern", kw)
			}
			if *active {
				if len(o.lists[op]) == 0 {
					o.src[op] = o.at
				}
				o.lists[op] = append(o.lists[op], arg)
			}
		}

	case sCiphers, sMacs, sKexAlgorithms:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		names := arg
		if names[0] == '+' || names[0] == '^' {
			names = names[1:]
		}
		if arg[0] != '-' {
			switch op {
			case sCiphers:
				if !namesValid(names, allCiphers) {
					return fatal("Bad SSH2 cipher spec '%s'.", arg)
				}
			case sMacs:
				if !namesValid(names, allMACs) {
					return fatal("Bad SSH2 mac spec '%s'.", arg)
				}
			default:
				if !namesValid(names, allKex) {
					return fatal("Bad SSH2 KexAlgorithms '%s'.", arg)
				}
			}
		}
		o.setStr(op, arg)

	case sSubsystem:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		if !*active {
			a.next()
			return nil
		}
		if contains(o.subsystems, arg) {
			return fatal("Subsystem '%s' already defined.", arg)
		}
		if cmd, ok := a.next(); !ok || cmd == "" {
			return fatal("Missing subsystem command.")
		}
		o.subsystems = append(o.subsystems, arg)
		a.consume()

	case sMaxStartups:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		vals := scanInts(arg, 3)
		switch len(vals) {
		case 3:
			if vals[0] > vals[2] || vals[1] > 100 || vals[1] < 1 || vals[0] <= 0 || vals[2] <= 0 {
				return fatal("Invalid %s spec.", kw)
			}
		case 1:
			if vals[0] <= 0 {
				return fatal("Invalid %s spec.", kw)
			}
		default:
			return fatal("Invalid %s spec.", kw)
		}

	case sPerSourceNetBlockSize:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		vals := scanInts(arg, 2)
		bad := len(vals) == 0
		if len(vals) == 2 && (vals[1] < 0 || vals[1] > 128) {
			bad = true
		}
		if len(vals) >= 1 && (vals[0] < 0 || vals[0] > 32) {
			bad = true
		}
		if bad {
			return fatal("Invalid %s spec.", kw)
		}

	case sPerSourceMaxStartups:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		if arg != "none" {
			if _, errstr := atoiErr(arg); errstr != "" {
				return fatal("%s integer value %s.", kw, errstr)
			}
		}

	case sAcceptEnv:
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			if arg == "" || strings.Contains(arg, "=") {
				return fatal("Invalid environment name.")
			}
			if *active {
				o.lists[op] = append(o.lists[op], arg)
			}
		}

	case sSetEnv:
		var vals []string
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			if arg == "" || !strings.Contains(arg, "=") {
				return fatal("Invalid environment.")
			}
			vals = append(vals, arg)
		}
		if *active && len(o.lists[op]) == 0 && len(vals) > 0 {
			o.lists[op] = vals
		}

	case sPermitTunnel:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		v := -1
		for _, m := range tunModes {
			if m.key == arg {
				v = m.val
				break
			}
		}
		if v == -1 {
			return fatal("bad %s argument %s", kw, arg)
		}
		if *active {
			o.setInt(op, v)
		}

	case sInclude:
		return p.include(o, kw, a, filename, linenum, active, conn, incFlags, depth)

	case sMatch:
		toks := p.matchTokens
		if toks == nil {
			toks = tokenize(str)
		}
		mcur := newReplay(toks, str)
		var ci *connInfo
		if *incFlags&incNeverMatch == 0 {
			ci = conn
		}
		v, err := p.matchCfgLine(mcur, filename, linenum, ci)
		if err != nil {
			return err
		}
		if v < 0 {
			return fatal("Bad Match condition")
		}
		*active = *incFlags&incNeverMatch == 0 && v == 1
		blk := MatchBlock{File: filename, Line: linenum, Criteria: strings.TrimSpace(str), Never: *incFlags&incNeverMatch != 0}
		if conn == nil {
			p.blocks = append(p.blocks, blk)
		} else if *active {
			p.matched = append(p.matched, blk)
		}
		*incFlags &^= incMatchOnly
		if mcur.null || mcur.s == "" {
			a.consume()
		}

	case sPermitOpen, sPermitListen:
		var vals []string
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			if arg == "any" || arg == "none" {
				if len(vals) != 0 {
					return fatal("%s must appear alone on a %s line.", arg, kw)
				}
				vals = append(vals, arg)
				continue
			}
			port := arg
			if op == sPermitListen && !strings.Contains(arg, ":") {
				// a bare port: any listen host
			} else {
				host, rest, ok := hpdelim(arg)
				if !ok {
					return fatal("%s missing host", kw)
				}
				_ = host
				port = rest
				if rest == "\x00" {
					return fatal("%s bad port number", kw)
				}
			}
			if port != "*" && p.a2port(port) <= 0 {
				return fatal("%s bad port number", kw)
			}
			vals = append(vals, arg)
		}
		if len(vals) == 0 {
			return fatal("%s missing argument.", kw)
		}
		if *active && len(o.lists[op]) == 0 {
			o.lists[op] = vals
		}

	case sForceCommand:
		if *active {
			o.setStr(op, strings.TrimLeft(str, whitespace))
		}
		a.consume()

	case sChrootDirectory, sAuthorizedPrincipalsFile, sSecurityKeyProvider:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		if *active {
			o.setStr(op, arg)
		}

	case sIPQoS:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		if !validIPQoS(arg) {
			return fatal("Bad %s value: %s", kw, arg)
		}
		if arg, ok := a.next(); ok && !validIPQoS(arg) {
			return fatal("Bad %s value: %s", kw, arg)
		}

	case sVersionAddendum:
		rest := strings.TrimLeft(str, whitespace)
		if strings.Contains(rest, "\r") {
			return p.fatal(filename, linenum, "%.200s line %d: Invalid %s argument", filename, linenum, kw)
		}
		a.consume()

	case sAuthorizedKeysCommand, sAuthorizedPrincipalsCommand:
		rest := strings.TrimLeft(str, whitespace)
		if !strings.HasPrefix(rest, "/") && !strings.EqualFold(rest, "none") {
			return p.fatal(filename, linenum, "%.200s line %d: %s must be an absolute path", filename, linenum, kw)
		}
		if *active {
			o.setStr(op, rest)
		}
		a.consume()

	case sAuthorizedKeysCommandUser, sAuthorizedPrincipalsCommandUser:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("missing %s argument.", kw)
		}
		if *active {
			o.setStr(op, arg)
		}

	case sAuthenticationMethods:
		var vals []string
		sawAny := false
		for {
			arg, ok := a.next()
			if !ok {
				break
			}
			switch {
			case arg == "any":
				if len(vals) > 0 {
					return fatal("\"any\" must appear alone in %s", kw)
				}
				sawAny = true
			case sawAny:
				return fatal("\"any\" must appear alone in %s", kw)
			default:
				if msg := authMethodsValid(arg, nil); msg != "" {
					p.problems = append(p.problems, Problem{File: filename, Line: linenum, Message: msg})
					return fatal("invalid %s method list.", kw)
				}
			}
			vals = append(vals, arg)
		}
		if len(vals) == 0 {
			return fatal("no %s specified", kw)
		}
		if *active && len(o.lists[op]) == 0 {
			o.lists[op] = vals
		}

	case sStreamLocalBindMask:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		v, n := strtol(arg, 8)
		if n == 0 || v < 0 || v > 0o777 {
			return fatal("Invalid %s.", kw)
		}
		if *active {
			o.ints[op] = int(v)
		}

	case sFingerprintHash:
		arg, ok := a.next()
		if !ok || arg == "" {
			return fatal("%s missing argument.", kw)
		}
		switch strings.ToLower(arg) {
		case "md5", "sha1", "sha256", "sha384", "sha512":
		default:
			return p.fatal(filename, linenum, "%.200s line %d: Invalid %s algorithm \"%s\".", filename, linenum, kw, arg)
		}

	case sRDomain:
		// Debian's build has no routing domain support.
		return fatal("setting RDomain not supported on this platform.")

	case sDeprecated, sIgnore, sUnsupported:
		a.consume()

	default:
		return p.fatal(filename, linenum, "%s line %d: Missing handler for opcode %s (%d)", filename, linenum, kw, op)
	}
	return nil
}

func (p *parser) multistate(o *options, op opcode, m multistate, a *args, filename string, linenum int, active bool) error {
	arg, ok := a.next()
	if !ok || arg == "" {
		return p.fatal(filename, linenum, "%s line %d: missing argument.", filename, linenum)
	}
	for _, e := range m {
		if strings.EqualFold(arg, e.key) {
			if active {
				o.setInt(op, e.val)
			}
			return nil
		}
	}
	return p.fatal(filename, linenum, "%s line %d: unsupported option \"%s\".", filename, linenum, arg)
}

func (p *parser) parseTime(o *options, op opcode, a *args, filename string, linenum int, active bool) error {
	arg, ok := a.next()
	if !ok || arg == "" {
		return p.fatal(filename, linenum, "%s line %d: missing time value.", filename, linenum)
	}
	v := convtime(arg)
	if v == -1 {
		return p.fatal(filename, linenum, "%s line %d: invalid time value.", filename, linenum)
	}
	if active {
		o.setInt(op, v)
	}
	return nil
}

// listenAddress queues a ListenAddress to be resolved once Port and
// AddressFamily are known, as sshd does.
func (p *parser) listenAddress(o *options, a *args, filename string, linenum int) error {
	fatal := func(msg string) error {
		return p.fatal(filename, linenum, "%s line %d: %s", filename, linenum, msg)
	}
	arg, ok := a.next()
	if !ok || arg == "" {
		return fatal("missing address")
	}
	var host string
	port := 0
	if c := strings.IndexByte(arg, ':'); !strings.Contains(arg, "[") && c >= 0 && strings.Contains(arg[c+1:], ":") {
		host = arg
	} else {
		h, rest, ok := hpdelim(arg)
		if !ok {
			return fatal("bad address:port usage")
		}
		host = cleanHostname(h)
		if rest != "\x00" {
			if port = p.a2port(rest); port <= 0 {
				return fatal("bad port number")
			}
		}
	}
	if kw, ok := a.next(); ok {
		if _, ok2 := a.next(); kw != "rdomain" || !ok2 {
			return fatal("bad ListenAddress syntax")
		}
		// valid_rdomain on a build without routing domain support.
		p.matchProblem(filename, linenum, "Routing domains are not supported on this platform")
		return fatal("bad routing domain")
	}
	o.listens = append(o.listens, queuedListen{addr: host, port: port, file: filename, line: linenum})
	return nil
}

// hpdelim splits host[:port]; rest is "\x00" when there is no port part
// (C's NULL). ok is false where hpdelim returns NULL.
func hpdelim(s string) (host, rest string, ok bool) {
	i := 0
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return "", "", false
		}
		i = j + 1
	} else if j := strings.IndexAny(s, ":/"); j >= 0 {
		i = j
	} else {
		i = len(s)
	}
	if i == len(s) {
		return s, "\x00", true
	}
	switch s[i] {
	case ':':
		return s[:i], s[i+1:], true
	case '/':
		return "", "", false // hpdelim refuses the '/' delimiter
	}
	return "", "", false
}

func cleanHostname(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// include is the Include directive: globs in lexical order, relative
// paths under /etc/ssh, files parsed in place, contents cached for the
// second pass; an Include in a Match block that did not match parses its
// files with Match never matching.
func (p *parser) include(o *options, kw string, a *args, filename string, linenum int, active *bool, conn *connInfo, incFlags *int, depth int) error {
	n := 0
	for {
		arg2, ok := a.next()
		if !ok {
			break
		}
		if arg2 == "" {
			return p.errorf(filename, linenum, "%s line %d: keyword %s empty argument", filename, linenum, kw)
		}
		n++
		sel := arg2
		if arg2[0] != '/' && arg2[0] != '~' {
			sel = sshDir + "/" + arg2
		}
		oactive := *active
		childFlags := 0
		switch {
		case *incFlags&incMatchOnly != 0:
			childFlags = incMatchOnly
		case !oactive:
			childFlags = incNeverMatch
		}
		found := false
		for i := 0; i < len(p.includes); i++ {
			it := p.includes[i]
			if it.selector != sel {
				continue
			}
			if it.filename != "" {
				if err := p.parseDepth(o, it.filename, it.contents, conn, childFlags, active, depth+1); err != nil {
					return err
				}
			}
			found = true
			*active = oactive
		}
		if found {
			continue
		}
		matches := p.glob(sel)
		if len(matches) == 0 {
			p.includes = append(p.includes, includeItem{selector: sel})
		}
		for _, m := range matches {
			if len(p.includes) >= maxIncludes {
				return p.fatal(filename, linenum, "%s line %d: more than %d included files", filename, linenum, maxIncludes)
			}
			contents, err := p.load(m)
			if err != nil {
				return err
			}
			if err := p.parseDepth(o, m, contents, conn, childFlags, active, depth+1); err != nil {
				return err
			}
			*active = oactive
			p.includes = append(p.includes, includeItem{selector: sel, filename: m, contents: contents})
		}
	}
	if n == 0 {
		return p.fatal(filename, linenum, "%s line %d: %s missing filename argument", filename, linenum, kw)
	}
	return nil
}

// globPattern turns glob(3)'s "[!...]" negation into path.Match's "[^...]".
func globPattern(s string) string { return strings.ReplaceAll(s, "[!", "[^") }

// a2port is OpenSSH's a2port: 0-65535 or a TCP service name from the
// host's /etc/services; -1 when neither.
func (p *parser) a2port(s string) int {
	if v, ok := strtonum(s, 0, 65535); ok == "" {
		return int(v)
	}
	if p.host != nil {
		if port, ok := p.host.service(s); ok {
			return port
		}
	}
	return -1
}

// strtonum is OpenBSD's strtonum: a base-10 long long in [min, max]. The
// error string is "invalid", "too small" or "too large", "" when fine.
func strtonum(s string, min, max int64) (int64, string) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	if t == "" {
		return 0, "invalid"
	}
	i := 0
	if t[0] == '+' || t[0] == '-' {
		i++
	}
	if i == len(t) {
		return 0, "invalid"
	}
	for j := i; j < len(t); j++ {
		if t[j] < '0' || t[j] > '9' {
			return 0, "invalid"
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if t[0] == '-' {
			return 0, "too small"
		}
		return 0, "too large"
	}
	if v < min {
		return 0, "too small"
	}
	if v > max {
		return 0, "too large"
	}
	return v, ""
}

// atoiErr is OpenSSH's atoi_err: an int in [0, INT_MAX].
func atoiErr(s string) (int, string) {
	if s == "" {
		return 0, "missing"
	}
	v, e := strtonum(s, 0, math.MaxInt32)
	return int(v), e
}

// strtol parses like C strtol(s, &end, base) and returns the value and how
// many bytes it consumed (0 when no digits).
func strtol(s string, base int) (int64, int) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 16 && i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && isDigit(s[i+2], 16) {
		i += 2
	}
	start := i
	var v int64
	overflow := false
	for i < len(s) && isDigit(s[i], base) {
		d := digitVal(s[i])
		if v > (math.MaxInt64-int64(d))/int64(base) {
			overflow = true
		} else {
			v = v*int64(base) + int64(d)
		}
		i++
	}
	if i == start {
		return 0, 0
	}
	if overflow {
		if neg {
			return math.MinInt64, i
		}
		return math.MaxInt64, i
	}
	if neg {
		v = -v
	}
	return v, i
}

func isDigit(c byte, base int) bool {
	d := digitVal(c)
	return d >= 0 && d < base
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// convtime is OpenSSH's convtime: a sequence of number[smhdw], or -1.
func convtime(s string) int {
	if s == "" {
		return -1
	}
	total := int64(0)
	for p := s; p != ""; {
		secs, n := strtol(p, 10)
		if n == 0 || secs < 0 {
			return -1
		}
		p = p[n:]
		mult := int64(1)
		if p != "" {
			switch p[0] {
			case 's', 'S':
			case 'm', 'M':
				mult = 60
			case 'h', 'H':
				mult = 3600
			case 'd', 'D':
				mult = 86400
			case 'w', 'W':
				mult = 604800
			default:
				return -1
			}
			p = p[1:]
		}
		if secs > math.MaxInt32/mult {
			return -1
		}
		secs *= mult
		if total > math.MaxInt32-secs {
			return -1
		}
		total += secs
	}
	return int(total)
}

// scanInts emulates sscanf(s, "%d:%d:%d") returning the converted values.
func scanInts(s string, max int) []int {
	var out []int
	for len(out) < max {
		if len(out) > 0 {
			if !strings.HasPrefix(s, ":") {
				break
			}
			s = s[1:]
		}
		v, n := strtol(s, 10)
		if n == 0 || v > math.MaxInt32 || v < math.MinInt32 {
			break
		}
		out = append(out, int(v))
		s = s[n:]
	}
	return out
}

// scanScaled is OpenBSD's scan_scaled (e.g. "1G", "512M", "1.5K"); the
// error is strerror's text.
func scanScaled(s string) (int64, string) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	whole := t[:i]
	frac := ""
	if i < len(t) && t[i] == '.' {
		j := i + 1
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		frac = t[i+1 : j]
		i = j
	}
	if whole == "" && frac == "" {
		return 0, "Invalid argument"
	}
	unit := ""
	if i < len(t) {
		unit = t[i:]
	}
	shift := uint(0)
	switch strings.ToUpper(unit) {
	case "", "B":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	case "P":
		shift = 50
	case "E":
		shift = 60
	default:
		return 0, "Invalid argument"
	}
	if frac != "" && unit == "" {
		return 0, "Invalid argument"
	}
	w, err := strconv.ParseInt(orZero(whole), 10, 64)
	if err != nil || (shift > 0 && w > math.MaxInt64>>shift) {
		return 0, "Numerical result out of range"
	}
	v := w << shift
	if frac != "" {
		f, _ := strconv.ParseFloat("0."+frac, 64)
		v += int64(f * float64(int64(1)<<shift))
	}
	if neg {
		v = -v
	}
	return v, ""
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func validFacility(s string) bool {
	switch strings.ToUpper(s) {
	case "DAEMON", "USER", "AUTH", "AUTHPRIV", "LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3",
		"LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7":
		return true
	}
	return false
}

func validLogLevel(s string) bool {
	switch strings.ToUpper(s) {
	case "QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3":
		return true
	}
	return false
}

func validIPQoS(s string) bool {
	switch strings.ToLower(s) {
	case "af11", "af12", "af13", "af21", "af22", "af23", "af31", "af32", "af33", "af41", "af42", "af43",
		"cs0", "cs1", "cs2", "cs3", "cs4", "cs5", "cs6", "cs7", "ef", "le", "lowdelay", "throughput",
		"reliability", "none":
		return true
	}
	v, n := strtol(s, 16)
	return s != "" && n == len(s) && v >= 0 && v <= 255
}

// validPatternInterval is parse_pattern_interval: "type=interval".
func validPatternInterval(s string) bool {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return false
	}
	return convtime(s[i+1:]) >= 0
}

// authMethods are the names AuthenticationMethods accepts, with what
// enables each; nil options skip the enabled check.
var authMethodNames = []string{"none", "publickey", "gssapi-keyex", "gssapi-with-mic", "hostbased", "keyboard-interactive", "password"}

// authMethodsValid is auth2_methods_valid: "" when fine, else sshd's error.
func authMethodsValid(list string, o *options) string {
	if list == "" {
		return "empty authentication method list"
	}
	for _, m := range strings.Split(list, ",") {
		name, _, _ := strings.Cut(m, ":")
		if !contains(authMethodNames, name) {
			return fmt.Sprintf("Unknown authentication method \"%s\" in list", name)
		}
		if o != nil && !o.methodEnabled(name) {
			return fmt.Sprintf("Disabled method \"%s\" in AuthenticationMethods list \"%s\"", name, list)
		}
	}
	return ""
}

func (o *options) methodEnabled(name string) bool {
	switch name {
	case "none":
		return true
	case "publickey":
		return o.int(sPubkeyAuthentication) == 1
	case "gssapi-keyex":
		return o.int(sGssKeyEx) == 1
	case "gssapi-with-mic":
		return o.int(sGssAuthentication) == 1
	case "hostbased":
		return o.int(sHostbasedAuthentication) == 1
	case "keyboard-interactive":
		return o.int(sKbdInteractiveAuthentication) == 1
	case "password":
		return o.int(sPasswordAuthentication) == 1
	}
	return false
}
