package sshd

import "strings"

// options is sshd's ServerOptions, reduced to what nodeguard prints or
// judges; every other directive is parsed for validity only. Integers are
// -1 until set, strings nil: the first value obtained wins.
type options struct {
	ints  map[opcode]int
	strs  map[opcode]string
	lists map[opcode][]string

	ports         []int
	listens       []queuedListen
	hostKeys      int
	subsystems    []string
	listenAddrs   []listenAddr
	permitUserEnv *string // PermitUserEnvironment pattern list

	at  srcLoc            // the directive being parsed
	src map[opcode]srcLoc // where each stored value came from
}

// srcLoc is the file and line a value was set on.
type srcLoc struct {
	File string
	Line int
}

type queuedListen struct {
	addr, rdomain string
	port          int
	file          string
	line          int
}

// listenAddr is one resolved ListenAddress, printed as sshd -T prints it.
type listenAddr struct {
	rdomain string
	entries []string // "1.2.3.4:22" or "[::1]:22", in sshd -T's order
}

func newOptions() *options {
	return &options{ints: map[opcode]int{}, strs: map[opcode]string{}, lists: map[opcode][]string{}, src: map[opcode]srcLoc{}}
}

func (o *options) int(op opcode) int {
	if v, ok := o.ints[op]; ok {
		return v
	}
	return -1
}

// setInt stores v unless a value was already obtained (first one wins).
func (o *options) setInt(op opcode, v int) {
	if _, ok := o.ints[op]; !ok {
		o.ints[op] = v
		o.src[op] = o.at
	}
}

func (o *options) str(op opcode) (string, bool) {
	v, ok := o.strs[op]
	return v, ok
}

func (o *options) setStr(op opcode, v string) {
	if _, ok := o.strs[op]; !ok {
		o.strs[op] = v
		o.src[op] = o.at
	}
}

// Values of PermitRootLogin, IgnoreRhosts, AllowTcpForwarding and friends.
const (
	permitNo         = 0
	permitForcedOnly = 1
	permitNoPasswd   = 2
	permitYes        = 3

	forwardDeny   = 0
	forwardRemote = 1
	forwardLocal  = 2
	forwardAllow  = 3

	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

type multistate []struct {
	key string
	val int
}

var (
	msFlag            = multistate{{"yes", 1}, {"no", 0}}
	msIgnoreRhosts    = multistate{{"yes", 1}, {"no", 0}, {"shosts-only", 2}}
	msAddressFamily   = multistate{{"inet", afInet}, {"inet6", afInet6}, {"any", afUnspec}}
	msPermitRootLogin = multistate{{"without-password", permitNoPasswd}, {"prohibit-password", permitNoPasswd},
		{"forced-commands-only", permitForcedOnly}, {"yes", permitYes}, {"no", permitNo}}
	msCompression  = multistate{{"yes", 2}, {"delayed", 2}, {"no", 0}}
	msGatewayPorts = multistate{{"clientspecified", 2}, {"yes", 1}, {"no", 0}}
	msTCPFwd       = multistate{{"yes", forwardAllow}, {"all", forwardAllow}, {"no", forwardDeny},
		{"remote", forwardRemote}, {"local", forwardLocal}}
	tunModes = multistate{{"no", 0}, {"point-to-point", 1}, {"ethernet", 2}, {"yes", 3}}
)

func (m multistate) format(v int) string {
	if v == -1 {
		return "unset"
	}
	for _, e := range m {
		if e.val == v {
			return e.key
		}
	}
	return "UNKNOWN"
}

// intCopied lists the integer options a Match block can override
// (M_CP_INTOPT in copy_set_server_options, OpenSSH 9.2).
var intCopied = []opcode{
	sPasswordAuthentication, sGssAuthentication, sPubkeyAuthentication, sPubkeyAuthOptions,
	sKerberosAuthentication, sHostbasedAuthentication, sHostbasedUsesNameFromPacketOnly,
	sKbdInteractiveAuthentication, sPermitRootLogin, sEmptyPasswd, sIgnoreRhosts,
	sAllowTcpForwarding, sAllowStreamLocalForwarding, sAllowAgentForwarding, sDisableForwarding,
	sExposeAuthInfo, sPermitTunnel, sGatewayPorts, sStreamLocalBindUnlink, sX11DisplayOffset,
	sX11Forwarding, sX11UseLocalhost, sPermitTTY, sPermitUserRC, sMaxSessions, sMaxAuthTries,
	sClientAliveCountMax, sClientAliveInterval, sIPQoS, sRekeyLimit, sLogLevel,
	sRequiredRSASize, sUnusedConnectionTimeout, sStreamLocalBindMask,
}

// strCopied and listCopied are COPY_MATCH_STRING_OPTS.
var (
	strCopied = []opcode{
		sBanner, sTrustedUserCAKeys, sRevokedKeys, sAuthorizedKeysCommand, sAuthorizedKeysCommandUser,
		sAuthorizedPrincipalsFile, sAuthorizedPrincipalsCommand, sAuthorizedPrincipalsCommandUser,
		sHostbasedAcceptedAlgorithms, sPubkeyAcceptedAlgorithms, sCASignatureAlgorithms, sRDomain,
		sForceCommand, sChrootDirectory,
	}
	listCopied = []opcode{
		sAuthorizedKeysFile, sAllowUsers, sDenyUsers, sAllowGroups, sDenyGroups, sAcceptEnv,
		sSetEnv, sAuthenticationMethods, sPermitOpen, sPermitListen, sChannelTimeout, sLogVerbose,
	}
)

// copySet is copy_set_server_options: what a matching Match block set
// overrides the global value.
func (dst *options) copySet(src *options) {
	for _, op := range intCopied {
		if v, ok := src.ints[op]; ok {
			dst.ints[op] = v
			dst.src[op] = src.src[op]
		}
	}
	for _, op := range strCopied {
		if v, ok := src.strs[op]; ok {
			dst.strs[op] = v
			dst.src[op] = src.src[op]
		}
	}
	for _, op := range listCopied {
		if v := src.lists[op]; len(v) > 0 {
			dst.lists[op] = v
			dst.src[op] = src.src[op]
		}
	}
	if src.permitUserEnv != nil {
		dst.permitUserEnv = src.permitUserEnv
	}
	// sshd assembles the algorithm lists again here. Lists assembled by
	// the first pass are explicit names and come out unchanged; only an
	// empty one (everything removed with "-") turns into the defaults.
	for op, def := range map[opcode][]string{sCiphers: defaultCiphers, sMacs: defaultMACs, sKexAlgorithms: defaultKex} {
		if dst.strs[op] == "" {
			dst.strs[op] = strings.Join(def, ",")
		}
	}
}

// fillDefaults is fill_default_server_options for the options kept here.
// It returns the name of an algorithm list that cannot be assembled.
func (o *options) fillDefaults() string {
	defaults := map[opcode]int{
		sUsePAM: 0, sAddressFamily: afUnspec, sLoginGraceTime: 120, sPermitRootLogin: permitNoPasswd,
		sIgnoreRhosts: 1, sX11Forwarding: 0, sHostbasedAuthentication: 0, sPubkeyAuthentication: 1,
		sPasswordAuthentication: 1, sKbdInteractiveAuthentication: 1, sEmptyPasswd: 0,
		sPermitUserEnvironment: 0, sAllowTcpForwarding: forwardAllow, sAllowAgentForwarding: 1,
		sDisableForwarding: 0, sMaxAuthTries: 6, sMaxSessions: 10, sClientAliveInterval: 0,
		sClientAliveCountMax: 3, sPermitTunnel: 0, sGssAuthentication: 0, sGssKeyEx: 0,
	}
	o.at = srcLoc{} // defaults come from no file
	for op, v := range defaults {
		o.setInt(op, v)
	}
	if len(o.ports) == 0 {
		o.ports = []int{22}
	}
	failed := o.assemble()
	// AuthenticationMethods "any" means no restriction.
	if m := o.lists[sAuthenticationMethods]; len(m) == 1 && m[0] == "any" {
		delete(o.lists, sAuthenticationMethods)
	}
	return failed
}

// assemble expands Ciphers, MACs and KexAlgorithms against the defaults.
// It returns the name sshd gives the first list that fails, or "".
func (o *options) assemble() string {
	failed := ""
	for _, a := range []struct {
		op       opcode
		name     string
		def, all []string
	}{{sCiphers, "ciphers", defaultCiphers, allCiphers}, {sMacs, "macs", defaultMACs, allMACs}, {sKexAlgorithms, "kex_algorithms", defaultKex, allKex}} {
		v := o.strs[a.op]
		if !assembleNames(&v, a.def, a.all) {
			if failed == "" {
				failed = a.name
			}
			continue
		}
		o.strs[a.op] = v
	}
	return failed
}

// clone copies the options so that each connection's second pass starts
// from the same first-pass result.
func (o *options) clone() *options {
	c := *o
	c.ints = make(map[opcode]int, len(o.ints))
	for k, v := range o.ints {
		c.ints[k] = v
	}
	c.strs = make(map[opcode]string, len(o.strs))
	for k, v := range o.strs {
		c.strs[k] = v
	}
	c.lists = make(map[opcode][]string, len(o.lists))
	for k, v := range o.lists {
		c.lists[k] = v
	}
	c.src = make(map[opcode]srcLoc, len(o.src))
	for k, v := range o.src {
		c.src[k] = v
	}
	return &c
}
