package sshd

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// handWritten are configurations chosen for OpenSSH's corner cases; each is
// compared with the real sshd for every spec in handSpecs.
var handWritten = map[string]string{
	"empty":            "",
	"debian-default":   "Include /nonexistent/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n",
	"first-wins":       "PermitRootLogin no\nPermitRootLogin yes\nMaxAuthTries 3\nMaxAuthTries 9\n",
	"equals":           "PermitRootLogin=no\nMaxAuthTries = 2\nPasswordAuthentication= no\nX11Forwarding =yes\n",
	"double-equals":    "MaxAuthTries == 2\n",
	"case":             "pErMiTrOoTlOgIn NO\nPASSWORDAUTHENTICATION No\nx11forwarding YES\n",
	"quoted":           "PermitRootLogin \"no\"\nAllowUsers \"alice\" 'bob' root\nMaxSessions \"4\"\n",
	"quoted-keyword":   "\"PermitRootLogin\" no\n",
	"unterminated-kw":  "\"PermitRootLogin no\nMaxAuthTries 2\n",
	"bad-quotes":       "AllowUsers \"alice\n",
	"comments":         "# comment\n  # indented\nMaxAuthTries 3 # trailing\nPermitRootLogin no#x\n",
	"trailing-ws":      "PasswordAuthentication no   \t\f\nPermitRootLogin no\r\n",
	"alias":            "ChallengeResponseAuthentication no\n",
	"alias-order":      "KbdInteractiveAuthentication yes\nChallengeResponseAuthentication no\n",
	"skey":             "SkeyAuthentication no\n",
	"unknown":          "Foo bar\nBaz\n",
	"no-arg":           "PermitRootLogin\n",
	"bad-value":        "PermitRootLogin maybe\n",
	"bad-int":          "MaxAuthTries lots\n",
	"neg-int":          "MaxAuthTries -1\n",
	"plus-int":         "MaxAuthTries +5\n",
	"big-int":          "MaxAuthTries 99999999999\n",
	"times":            "LoginGraceTime 1h2m3s\nClientAliveInterval 5M\n",
	"bad-time":         "LoginGraceTime 5x\n",
	"extra-args":       "PermitRootLogin no yes\n",
	"tunnel":           "PermitTunnel point-to-point\n",
	"tunnel-case":      "PermitTunnel Yes\n",
	"userenv-list":     "PermitUserEnvironment LANG,LC_*\n",
	"userenv-yes":      "PermitUserEnvironment yes\n",
	"tcpfwd":           "AllowTcpForwarding local\n",
	"ciphers-explicit": "Ciphers aes256-ctr,aes128-ctr\n",
	"ciphers-plus":     "Ciphers +aes128-cbc,3des-cbc\n",
	"ciphers-minus":    "Ciphers -*-ctr\n",
	"ciphers-caret":    "Ciphers ^aes256-gcm@openssh.com\n",
	"ciphers-none":     "Ciphers -*\n",
	"ciphers-comma":    "Ciphers ,\n",
	"ciphers-bad":      "Ciphers blowfish-cbc\n",
	"ciphers-pattern":  "Ciphers aes*\n",
	"macs":             "MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n",
	"macs-minus":       "MACs -hmac-sha1*,umac-64*\n",
	"kex":              "KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256\n",
	"kex-plus":         "KexAlgorithms +diffie-hellman-group1-sha1\n",
	"kex-bad":          "KexAlgorithms foo\n",
	"ports":            "Port 2222\nPort 22\n",
	"port-service":     "Port ssh\n",
	"port-bad":         "Port 0\n",
	"listen":           "Port 23\nPort 24\nListenAddress ::\nListenAddress 10.1:2222\nListenAddress [::1]:2201\nListenAddress 127.0.0.1\n",
	"listen-af":        "AddressFamily inet\n",
	"listen-af6":       "AddressFamily inet6\nPort 2022\n",
	"listen-af-bad":    "ListenAddress 1.2.3.4\nAddressFamily inet6\n",
	"allowusers":       "AllowUsers alice bob\nAllowUsers root@10.0.0.0/8\nDenyUsers eve\nAllowGroups wheel\nDenyGroups nogroup\n",
	"allowusers-bad":   "AllowUsers root@10.0.0.0/33\n",
	"match-user":       "PermitRootLogin no\nMatch User root\n  PermitRootLogin yes\n  PasswordAuthentication no\n",
	"match-after":      "Match User root\n  PermitRootLogin yes\nMatch all\n  PermitRootLogin no\n  MaxAuthTries 2\n",
	"match-global":     "Match User root\n  Port 2222\n",
	"match-all-global": "Match All\nPort 2222\nPermitRootLogin no\n",
	"match-bad":        "Match Foo bar\n",
	"match-empty":      "Match\n",
	"match-missing":    "Match User\n",
	"match-all-extra":  "Match all User root\n",
	"match-addr":       "Match Address 10.0.0.0/8,!10.1.0.0/16\n  PasswordAuthentication no\nMatch Address 192.168.1.*\n  X11Forwarding yes\n",
	"match-addr-bad":   "Match Address 10.0.0.1/8\n  PasswordAuthentication no\n",
	"match-addr-mask":  "Match Address 10.0.0.0/40\n  PasswordAuthentication no\n",
	"match-laddr":      "Match LocalAddress 192.0.2.1\n  MaxSessions 1\n",
	"match-lport":      "Match LocalPort 2222\n  MaxSessions 1\n",
	"match-lport-bad":  "Match LocalPort nope\n  MaxSessions 1\n",
	"match-host":       "Match Host *.EXAMPLE.com,!bad.example.com\n  AllowTcpForwarding no\n",
	"match-rdomain":    "Match RDomain vrf*\n  PermitTunnel yes\n",
	"match-group":      "Match Group root,!nogroup\n  PermitRootLogin forced-commands-only\n",
	"match-neg-group":  "Match Group !root,*\n  PermitRootLogin yes\n",
	"match-multi":      "Match User root Address 127.0.0.1 Host localhost\n  PermitRootLogin yes\n",
	"match-comment":    "Match User root # only root\n  MaxAuthTries 1\n",
	"match-equals":     "Match User=root\n  MaxAuthTries 1\n",
	"match-quoted":     "Match User \"root,admin\"\n  MaxAuthTries 1\n",
	"match-users":      "AllowUsers alice\nMatch User root\n  AllowUsers root\n  DenyUsers bob\n",
	"match-ciphers":    "Match User root\n  Ciphers aes128-ctr\n",
	"match-usepam":     "Match all\n  UsePAM no\nMatch User root\n  UsePAM yes\n",
	"akc-no-user":      "AuthorizedKeysCommand /bin/true\n",
	"akc-relative":     "AuthorizedKeysCommand bin/true\n",
	"authmethods":      "PasswordAuthentication no\nAuthenticationMethods password\n",
	"authmethods-ok":   "AuthenticationMethods publickey,password publickey\n",
	"authmethods-bad":  "AuthenticationMethods magic\n",
	"deprecated":       "UseLogin no\nProtocol 2\nUsePrivilegeSeparation sandbox\n",
	"maxstartups":      "MaxStartups 10:30:5\n",
	"rekey":            "RekeyLimit 1G 1h\n",
	"rekey-small":      "RekeyLimit 8\n",
	"ipqos":            "IPQoS af21 cs1\n",
	"ipqos-bad":        "IPQoS fast\n",
	"bindmask":         "StreamLocalBindMask 0999\n",
	"subsystem-dup":    "Subsystem sftp /a\nSubsystem sftp /b\n",
	"setenv":           "SetEnv FOO\n",
	"nul-byte":         "PermitRootLogin no\x00garbage\nMaxAuthTries 2\nX11Forwarding yes\n",
	"binary":           "\x7fELF\x02\x01\x01\x00\x00\x00\n\x00\x00\xff\xfe\n",
}

var handSpecs = []string{
	"user=root,host=localhost,addr=127.0.0.1,laddr=192.0.2.1,lport=22",
	"user=alice,host=web.example.com,addr=10.2.3.4,laddr=10.0.0.1,lport=2222,rdomain=vrf1",
	"user=root,addr=10.1.2.3",
	"",
}

func writeConfig(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDifferentialHandWritten(t *testing.T) {
	r := findSSHD(t)
	dir := t.TempDir()
	names := make([]string, 0, len(handWritten))
	for n := range handWritten {
		names = append(names, n)
	}
	var jobs []diffJob
	for _, name := range names {
		file := writeConfig(t, dir, name+".conf", handWritten[name])
		for _, spec := range handSpecs {
			jobs = append(jobs, diffJob{name, file, handWritten[name], spec})
		}
	}
	compareAll(t, r, jobs)
}

// TestDifferentialIncludes covers Include: globs in lexical order, Include
// inside Match, loops, self-includes, missing files and nested depth.
func TestDifferentialIncludes(t *testing.T) {
	r := findSSHD(t)
	dir := t.TempDir()
	d := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, d, "10-a.conf", "PermitRootLogin no\nMaxAuthTries 2\n")
	writeConfig(t, d, "20-b.conf", "PermitRootLogin yes\nPasswordAuthentication no\nMatch User root\n  X11Forwarding yes\n")
	writeConfig(t, d, "05-c.conf", "MaxSessions 3\n")
	writeConfig(t, d, ".hidden.conf", "MaxSessions 9\n")
	writeConfig(t, dir, "self.conf", "Include "+filepath.Join(dir, "self.conf")+"\n")
	writeConfig(t, dir, "loop-a.conf", "Include "+filepath.Join(dir, "loop-b.conf")+"\n")
	writeConfig(t, dir, "loop-b.conf", "MaxSessions 2\nInclude "+filepath.Join(dir, "loop-a.conf")+"\n")
	writeConfig(t, dir, "match-inc.conf", "Match User root\n  MaxAuthTries 1\n")
	writeConfig(t, dir, "global-in-match.conf", "Port 2222\n")
	writeConfig(t, dir, "bad-inc.conf", "Bogus yes\n")
	cases := map[string]string{
		"glob":             "Include " + d + "/*.conf\n",
		"glob-then-match":  "Include " + d + "/*.conf\nMatch User root\n  PermitRootLogin forced-commands-only\n",
		"in-match":         "Match User root\n  Include " + d + "/1*.conf\n",
		"match-in-include": "Include " + filepath.Join(dir, "match-inc.conf") + "\nMaxAuthTries 5\n",
		"include-resets":   "Match User root\nInclude " + filepath.Join(dir, "match-inc.conf") + "\nPermitRootLogin no\n",
		"nevermatch":       "Match User nobody\n  Include " + filepath.Join(dir, "match-inc.conf") + "\n",
		"global-in-match":  "Match User root\n  Include " + filepath.Join(dir, "global-in-match.conf") + "\n",
		"self":             "Include " + filepath.Join(dir, "self.conf") + "\n",
		"loop":             "Include " + filepath.Join(dir, "loop-a.conf") + "\n",
		"missing":          "Include " + filepath.Join(dir, "nope.conf") + " " + d + "/*.none\nMaxAuthTries 4\n",
		"twice":            "Include " + d + "/05-c.conf\nInclude " + d + "/05-c.conf\n",
		"bad-included":     "Include " + filepath.Join(dir, "bad-inc.conf") + "\n",
		"multi-arg":        "Include " + d + "/20-b.conf " + d + "/10-a.conf\n",
		"bracket-glob":     "Include " + d + "/[!1]*.conf\n",
		"directory":        "Include " + d + "\nMaxAuthTries 3\n",
	}
	var jobs []diffJob
	for name, content := range cases {
		file := writeConfig(t, dir, name+".main", content)
		for _, spec := range handSpecs {
			jobs = append(jobs, diffJob{name, file, content, spec})
		}
	}
	compareAll(t, r, jobs)
}

// TestDifferentialMatchKeywords puts every directive inside a Match block:
// sshd's table decides which are allowed there.
func TestDifferentialMatchKeywords(t *testing.T) {
	r := findSSHD(t)
	dir := t.TempDir()
	var jobs []diffJob
	for _, kw := range KeywordNames() {
		if kw == "match" || kw == "include" {
			continue
		}
		val := sampleValue(kw)
		content := "Match User nobody\n  " + kw + " " + val + "\n"
		jobs = append(jobs, diffJob{kw + " in Match", writeConfig(t, dir, kw+".conf", content), content, "user=root"})
		content = kw + " " + val + "\n"
		jobs = append(jobs, diffJob{kw + " globally", writeConfig(t, dir, kw+".global", content), content, "user=root"})
	}
	compareAll(t, r, jobs)
}

// sampleValue is a value each directive accepts.
func sampleValue(kw string) string {
	switch kw {
	case "port":
		return "2222"
	case "hostkey", "hostdsakey", "hostcertificate", "pidfile", "modulifile", "xauthlocation",
		"banner", "trustedusercakeys", "revokedkeys", "authorizedprincipalsfile", "authorizedkeysfile",
		"hostkeyagent", "chrootdirectory", "securitykeyprovider":
		return "/nonexistent"
	case "logingracetime", "clientaliveinterval", "unusedconnectiontimeout":
		return "30"
	case "permitrootlogin":
		return "no"
	case "syslogfacility":
		return "AUTH"
	case "loglevel":
		return "INFO"
	case "logverbose":
		return "kex.c:*"
	case "hostbasedacceptedalgorithms", "hostbasedacceptedkeytypes", "hostkeyalgorithms",
		"pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes", "casignaturealgorithms":
		return "ssh-ed25519"
	case "pubkeyauthoptions":
		return "none"
	case "gssapikexalgorithms":
		return "gss-curve25519-sha256-"
	case "listenaddress":
		return "127.0.0.1"
	case "addressfamily":
		return "any"
	case "ignorerhosts":
		return "yes"
	case "x11displayoffset", "maxauthtries", "maxsessions", "clientalivecountmax", "persourcemaxstartups":
		return "10"
	case "requiredrsasize":
		return "2048"
	case "permituserenvironment":
		return "no"
	case "compression":
		return "no"
	case "rekeylimit":
		return "default"
	case "allowtcpforwarding", "allowstreamlocalforwarding":
		return "no"
	case "allowusers", "denyusers", "allowgroups", "denygroups", "acceptenv":
		return "x"
	case "ciphers":
		return "aes128-ctr"
	case "macs":
		return "hmac-sha2-256"
	case "kexalgorithms":
		return "curve25519-sha256"
	case "gatewayports":
		return "no"
	case "subsystem":
		return "x /bin/x"
	case "maxstartups":
		return "10:30:100"
	case "persourcenetblocksize":
		return "32:128"
	case "setenv":
		return "A=b"
	case "permittunnel":
		return "no"
	case "permitopen", "permitlisten":
		return "any"
	case "forcecommand":
		return "/bin/true"
	case "ipqos":
		return "af21"
	case "authorizedkeyscommand", "authorizedprincipalscommand":
		return "none"
	case "authorizedkeyscommanduser", "authorizedprincipalscommanduser":
		return "nobody"
	case "versionaddendum":
		return "none"
	case "authenticationmethods":
		return "any"
	case "streamlocalbindmask":
		return "0177"
	case "fingerprinthash":
		return "sha256"
	case "rdomain":
		return "none"
	case "channeltimeout":
		return "session=5m"
	}
	return "no"
}

// generator makes random configurations from the directives nodeguard
// evaluates, in every syntax sshd accepts and a few it refuses.
type generator struct {
	r   *rand.Rand
	dir string
	n   int
}

type genKW struct {
	name  string
	vals  []string
	match bool // allowed in Match
}

var genKeywords = []genKW{
	{"PermitRootLogin", []string{"yes", "no", "prohibit-password", "without-password", "forced-commands-only"}, true},
	{"PasswordAuthentication", []string{"yes", "no", "YES"}, true},
	{"KbdInteractiveAuthentication", []string{"yes", "no"}, true},
	{"ChallengeResponseAuthentication", []string{"yes", "no"}, true},
	{"PermitEmptyPasswords", []string{"yes", "no"}, true},
	{"PubkeyAuthentication", []string{"yes", "no"}, true},
	{"HostbasedAuthentication", []string{"yes", "no"}, true},
	{"IgnoreRhosts", []string{"yes", "no", "shosts-only"}, true},
	{"X11Forwarding", []string{"yes", "no"}, true},
	{"MaxAuthTries", []string{"0", "2", "3", "4", "6", "10", "+5"}, true},
	{"MaxSessions", []string{"1", "5", "10"}, true},
	{"LoginGraceTime", []string{"0", "30", "1m", "2m30s", "1h"}, false},
	{"ClientAliveInterval", []string{"0", "300", "5m", "1h1s"}, true},
	{"ClientAliveCountMax", []string{"0", "3", "10"}, true},
	{"AllowTcpForwarding", []string{"yes", "no", "local", "remote", "all"}, true},
	{"AllowAgentForwarding", []string{"yes", "no"}, true},
	{"PermitUserEnvironment", []string{"yes", "no", "LANG,LC_*"}, false},
	{"PermitTunnel", []string{"yes", "no", "point-to-point", "ethernet"}, true},
	{"UsePAM", []string{"yes", "no"}, false},
	{"Ciphers", []string{"aes256-ctr,aes128-ctr", "+aes128-cbc", "-*-cbc,3des*", "^aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "-chacha20*"}, false},
	{"MACs", []string{"hmac-sha2-256,hmac-sha2-512", "-hmac-sha1*", "+hmac-md5", "^hmac-sha2-512-etm@openssh.com"}, false},
	{"KexAlgorithms", []string{"curve25519-sha256", "-diffie-hellman*", "+diffie-hellman-group14-sha1", "^curve25519-sha256@libssh.org"}, false},
	{"Port", []string{"22", "2222", "8022"}, false},
	{"ListenAddress", []string{"0.0.0.0", "127.0.0.1:2200", "[::1]:2201", "10.0.0.5", "::"}, false},
	{"AllowUsers", []string{"root", "alice bob", "*@10.0.0.0/8", "admin@192.168.1.*", "r*"}, true},
	{"DenyUsers", []string{"eve", "guest*", "root@203.0.113.*"}, true},
	{"AllowGroups", []string{"root", "wheel sudo", "adm"}, true},
	{"DenyGroups", []string{"nogroup", "games"}, true},
	{"Banner", []string{"none", "/etc/issue.net"}, true},
	{"PrintMotd", []string{"no"}, false},
	{"UseDNS", []string{"no"}, false},
	{"AcceptEnv", []string{"LANG LC_*"}, true},
	{"LogLevel", []string{"VERBOSE", "info"}, true},
	{"MaxStartups", []string{"10:30:60", "20"}, false},
	{"GatewayPorts", []string{"no", "clientspecified"}, true},
	{"DisableForwarding", []string{"yes", "no"}, true},
	{"AuthorizedKeysFile", []string{".ssh/authorized_keys", "none"}, true},
}

var genCriteria = []func(r *rand.Rand) string{
	func(r *rand.Rand) string {
		return pick(r, "User", "user", "USER") + " " + pick(r, "root", "root,admin", "!root,*", "adm*", "r??t", "alice")
	},
	func(r *rand.Rand) string {
		return pick(r, "Group", "group") + " " + pick(r, "root", "wheel,sudo", "!nogroup,*", "adm,root")
	},
	func(r *rand.Rand) string {
		return pick(r, "Host", "host") + " " + pick(r, "*.example.com", "bastion", "!bad.example.com,*", "LOCALHOST")
	},
	func(r *rand.Rand) string {
		return pick(r, "Address", "address") + " " + pick(r, "10.0.0.0/8", "192.168.1.*", "!10.1.0.0/16,10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "10.0.0.0/16")
	},
	func(r *rand.Rand) string {
		return pick(r, "LocalAddress", "localaddress") + " " + pick(r, "192.0.2.1", "10.0.0.0/8", "::1")
	},
	func(r *rand.Rand) string { return pick(r, "LocalPort", "localport") + " " + pick(r, "22", "2222") },
	func(r *rand.Rand) string { return "RDomain " + pick(r, "vrf*", "red", "!red,*") },
}

func pick(r *rand.Rand, s ...string) string { return s[r.Intn(len(s))] }

func (g *generator) caseVariant(s string) string {
	switch g.r.Intn(4) {
	case 0:
		return strings.ToLower(s)
	case 1:
		return strings.ToUpper(s)
	}
	return s
}

func (g *generator) directive(inMatch bool) string {
	r := g.r
	k := genKeywords[r.Intn(len(genKeywords))]
	if inMatch && !k.match && r.Intn(20) != 0 {
		return g.directive(inMatch) // rarely keep a global one: sshd must refuse it
	}
	v := k.vals[r.Intn(len(k.vals))]
	// Garbage values, except for ListenAddress where sshd would ask DNS.
	if r.Intn(40) == 0 && k.name != "ListenAddress" {
		v = pick(r, "maybe", "-1", "", "x y", "\"unterminated")
	}
	if !strings.Contains(v, " ") && r.Intn(8) == 0 {
		v = `"` + v + `"`
	}
	sep := pick(r, " ", " ", "\t", "=", " = ", "  ")
	line := g.caseVariant(k.name) + sep + v
	if r.Intn(10) == 0 {
		line += " # note"
	}
	if r.Intn(6) == 0 {
		line = pick(r, "  ", "\t") + line
	}
	return line
}

func (g *generator) match() string {
	r := g.r
	if r.Intn(8) == 0 {
		return pick(r, "Match all", "Match All", "match ALL")
	}
	n := 1 + r.Intn(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = genCriteria[r.Intn(len(genCriteria))](r)
	}
	return "Match " + strings.Join(parts, " ")
}

// config writes a main file (and maybe included files) and returns its path.
func (g *generator) config() (string, string) {
	r := g.r
	g.n++
	var b strings.Builder
	inMatch := false
	lines := 1 + r.Intn(25)
	var includes []string
	for i := 0; i < lines; i++ {
		switch x := r.Intn(20); {
		case x < 2:
			b.WriteString(g.match() + "\n")
			inMatch = true
		case x == 2 && len(includes) < 3:
			name := filepath.Join(g.dir, fmt.Sprintf("inc-%d-%d.conf", g.n, len(includes)))
			var ib strings.Builder
			for j := 0; j < 1+r.Intn(6); j++ {
				if r.Intn(6) == 0 {
					ib.WriteString(g.match() + "\n")
				}
				ib.WriteString(g.directive(true) + "\n")
			}
			if err := os.WriteFile(name, []byte(ib.String()), 0o644); err != nil {
				panic(err)
			}
			includes = append(includes, name)
			target := name
			if r.Intn(3) == 0 {
				target = filepath.Join(g.dir, fmt.Sprintf("inc-%d-*.conf", g.n))
			}
			b.WriteString(pick(r, "Include ", "include ", "Include=") + target + "\n")
		case x == 3:
			b.WriteString(pick(r, "# comment", "", "   ") + "\n")
		default:
			b.WriteString(g.directive(inMatch) + "\n")
		}
	}
	path := filepath.Join(g.dir, fmt.Sprintf("gen-%d.conf", g.n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		panic(err)
	}
	return path, b.String()
}

func (g *generator) spec() string {
	r := g.r
	var parts []string
	if r.Intn(8) != 0 {
		parts = append(parts, "user="+pick(r, "root", "alice", "admin", "nobody"))
	}
	if r.Intn(4) != 0 {
		parts = append(parts, "host="+pick(r, "bastion", "web.example.com", "bad.example.com", "localhost"))
	}
	if r.Intn(4) != 0 {
		parts = append(parts, "addr="+pick(r, "10.1.2.3", "10.2.3.4", "192.168.1.5", "127.0.0.1", "2001:db8::1", "203.0.113.9"))
	}
	if r.Intn(3) != 0 {
		parts = append(parts, "laddr="+pick(r, "192.0.2.1", "10.0.0.1", "::1"))
	}
	if r.Intn(6) != 0 {
		parts = append(parts, "lport="+pick(r, "22", "2222"))
	}
	if r.Intn(3) == 0 {
		parts = append(parts, "rdomain="+pick(r, "red", "vrf1"))
	}
	return strings.Join(parts, ",")
}

// TestDifferentialGenerated compares nodeguard with sshd on random
// configurations. NODEGUARD_SSHD_DIFF_N sets how many (default 400) and
// NODEGUARD_SSHD_DIFF_SEED the seed (default fixed, so failures reproduce).
func TestDifferentialGenerated(t *testing.T) {
	r := findSSHD(t)
	n := 400
	if s := os.Getenv("NODEGUARD_SSHD_DIFF_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := int64(20261128)
	if s := os.Getenv("NODEGUARD_SSHD_DIFF_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	if testing.Short() {
		n = 40
	}
	g := &generator{r: rand.New(rand.NewSource(seed)), dir: t.TempDir()}
	var jobs []diffJob
	for i := 0; i < n; i++ {
		file, content := g.config()
		for k := 0; k < 2; k++ {
			jobs = append(jobs, diffJob{file, file, content, g.spec()})
		}
	}
	accepted := compareAll(t, r, jobs)
	refused := len(jobs) - accepted
	t.Logf("%d configurations, %d runs accepted by sshd, %d refused", n, accepted, refused)
	if accepted < n/2 {
		t.Errorf("only %d of %d runs were accepted: the generator produces too many broken configurations", accepted, 2*n)
	}
}

// TestDifferentialFixtures runs sshd on the fixture hosts themselves (their
// /etc overlaid on the real one in a private mount namespace).
func TestDifferentialFixtures(t *testing.T) {
	r := findSSHD(t)
	// Two distinct layers: overlayfs refuses the same directory twice (ELOOP).
	probe := append(append([]string{}, r.prefix...), "sh", "-c", "mount -t overlay overlay -o lowerdir="+t.TempDir()+":/etc /mnt")
	if out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil {
		why := "overlayfs is not available in a private mount namespace: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	specs := append([]string{"user=ops,host=b.example.com,addr=10.1.2.3,laddr=10.0.0.1,lport=22",
		"user=nobody,addr=192.0.2.50,lport=22"}, handSpecs[:3]...)
	cases := []struct{ root, file string }{
		{"testdata/hardened", DefaultConfigPath},
		{"testdata/debian", DefaultConfigPath},
		{"testdata/rhel", DefaultConfigPath},
		{"testdata/broken", DefaultConfigPath},
		{"testdata/broken", "/etc/ssh/self.conf"},
		{"testdata/broken", "/etc/ssh/truncated.conf"},
		{"testdata/broken", "/etc/ssh/binary.conf"},
	}
	for _, c := range cases {
		root := openRoot(t, c.root)
		for _, spec := range specs {
			out, errOut, ok := r.runIn(t, c.root, c.file, spec)
			if d := compareRun(t, root, c.file, spec, out, errOut, ok); d != "" {
				t.Errorf("%s %s with -C %q: %s", c.root, c.file, spec, d)
			}
		}
	}
}
