package accounts

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
	"github.com/nodeguard/nodeguard/probes/sshd"
)

func TestClassify(t *testing.T) {
	for in, want := range map[string]Password{
		"":                     {State: Empty},
		"!":                    {State: Locked, Marker: "!"},
		"!!":                   {State: Locked, Marker: "!!"},
		"!*":                   {State: Locked, Marker: "!*"},
		"!$6$salt$abcde":       {State: Locked, Marker: "!hash"},
		"*":                    {State: Disabled, Marker: "*"},
		"*LOCK*":               {State: Disabled, Marker: "*"},
		"$6$salt$abcdef":       {State: Usable},
		"$y$j9T$abc$def":       {State: Usable},
		"abcdefghij./0":        {State: Usable},                               // traditional DES
		"_J9..abcdefghijklmn":  {State: Disabled, Marker: "not a crypt hash"}, // 19 chars: not BSDi DES
		"_J9..abcdefghijklmno": {State: Usable},
		"x":                    {State: Disabled, Marker: "not a crypt hash"},
		"NP":                   {State: Disabled, Marker: "not a crypt hash"},
	} {
		if got := classify([]byte(in)); got != want {
			t.Errorf("classify(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	data := "root:x:0:0:root:/root:/bin/bash\r\n# comment\n\n+@nis::::::\nbad line\nalice:$1$s$h:1000:1000:::\nbob::abc:1:::\nempty::1001:1001:::\n"
	es, errs := ParsePasswd("/etc/passwd", []byte(data))
	if len(es) != 3 || es[0].Name != "root" || es[0].Password.State != Shadowed ||
		es[1].Password.State != Usable || es[2].Password.State != Empty || es[2].UID != 1001 || es[2].Line != 8 {
		t.Fatalf("entries = %+v", es)
	}
	if len(errs) != 2 || errs[0].Line != 5 || errs[1].Line != 7 || !strings.Contains(errs[1].Error(), "user id is not a number") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestParseShadow(t *testing.T) {
	es, errs := ParseShadow("/etc/shadow", []byte("root:!:19600::::::\nold:$6$a$b\nnocolon\n:x:\n"))
	if len(es) != 2 || es[0].Password.State != Locked || es[1].Password.State != Usable {
		t.Fatalf("entries = %+v", es)
	}
	if len(errs) != 2 {
		t.Fatalf("errors = %v", errs)
	}
}

func TestParseSudoers(t *testing.T) {
	src := `Defaults env_reset
Defaults:%ops !lecture
Defaults>root !set_logname
@includedir /etc/sudoers.d
#includedir /etc/sudoers.d
#include "/etc/sudo ers.local"
@include sudoers.%h
# a comment line
#1000 ALL = (ALL) ALL
%#1001 ALL = ALL  # trailing comment
Cmnd_Alias SHELLS = /bin/sh, /bin/bash : ROOTALL = ALL
User_Alias ADMINS = alice, \
    bob
ADMINS, carol web1, web2 = (root) NOPASSWD: /usr/bin/systemctl restart nginx, PASSWD: /bin/ls : db1 = ALL
dave ALL = (ALL : ALL) sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd /usr/bin/id, TIMEOUT=5m CWD=/tmp NOEXEC: !/bin/sh
eve ALL = /usr/bin/printf a\,b\:c, /bin/true
`
	sf := ParseSudoers("/etc/sudoers", []byte(src))
	if len(sf.Errors) != 0 {
		t.Fatalf("errors: %v", sf.Errors)
	}
	wantInc := []Include{{"/etc/sudoers.d", true, 4}, {"/etc/sudoers.d", true, 5}, {"/etc/sudo ers.local", false, 6}, {"sudoers.%h", false, 7}}
	if len(sf.Includes) != len(wantInc) {
		t.Fatalf("includes = %+v", sf.Includes)
	}
	for i, w := range wantInc {
		if sf.Includes[i] != w {
			t.Errorf("include %d = %+v, want %+v", i, sf.Includes[i], w)
		}
	}
	if len(sf.Aliases) != 3 || sf.Aliases[1].Name != "ROOTALL" || strings.Join(sf.Aliases[2].Members, ",") != "alice,bob" {
		t.Fatalf("aliases = %+v", sf.Aliases)
	}
	if len(sf.Specs) != 5 {
		t.Fatalf("specs = %+v", sf.Specs)
	}
	if u := sf.Specs[0].Users; len(u) != 1 || u[0] != "#1000" {
		t.Errorf("uid user = %v", u)
	}
	if u := sf.Specs[1].Users; len(u) != 1 || u[0] != "%#1001" {
		t.Errorf("gid user = %v", u)
	}
	s := sf.Specs[2]
	if strings.Join(s.Users, ",") != "ADMINS,carol" || len(s.Privs) != 2 || strings.Join(s.Privs[0].Hosts, ",") != "web1,web2" {
		t.Fatalf("multi spec = %+v", s)
	}
	c := s.Privs[0].Cmnds
	if len(c) != 2 || !c[0].Nopasswd || c[1].Nopasswd || c[0].Runas != "root" || c[1].Runas != "root" || c[1].Cmnd != "/bin/ls" {
		t.Fatalf("tags = %+v", c)
	}
	if p := s.Privs[1]; p.Hosts[0] != "db1" || p.Cmnds[0].Cmnd != "ALL" || p.Cmnds[0].Nopasswd {
		t.Fatalf("second privilege = %+v", p)
	}
	d := sf.Specs[3].Privs[0].Cmnds
	if len(d) != 2 || d[0].Cmnd != "/usr/bin/id" || d[0].Runas != "ALL : ALL" || !d[1].Negated || d[1].Cmnd != "/bin/sh" {
		t.Fatalf("digest/options = %+v", d)
	}
	if e := sf.Specs[4].Privs[0].Cmnds; len(e) != 2 || e[0].Cmnd != `/usr/bin/printf a\,b\:c` {
		t.Fatalf("escapes = %+v", e)
	}
}

func TestParseSudoersErrors(t *testing.T) {
	for _, src := range []string{
		"alice",
		"alice ALL",
		"alice ALL =",
		"alice ALL = /bin/ls :",
		"alice ALL = (root /bin/ls",
		"Cmnd_Alias lower = /bin/ls",
		"User_Alias A = ",
		"@include",
		"@include \"unterminated",
		"alice ALL = ALL\x00",
	} {
		if sf := ParseSudoers("f", []byte(src)); len(sf.Errors) == 0 {
			t.Errorf("%q: want a syntax error, got %+v", src, sf)
		}
	}
}

func runFixture(t testing.TB, dir string) []finding.Finding {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	return (&Probe{}).Run(context.Background(), env)
}

type want struct {
	id     string
	status finding.Status
	sev    finding.Severity // "" = any
	has    string           // substring of the message, "" = any
}

func check(t *testing.T, fs []finding.Finding, wants []want) {
	t.Helper()
	for _, w := range wants {
		found := false
		for _, f := range fs {
			if f.ID == w.id && f.Status == w.status && (w.sev == "" || f.Severity == w.sev) && strings.Contains(f.Message, w.has) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s %s %s finding with %q", w.id, w.status, w.sev, w.has)
		}
	}
	if t.Failed() {
		for _, f := range fs {
			t.Logf("%s %s %s: %s", f.ID, f.Status, f.Severity, f.Message)
		}
	}
}

func count(fs []finding.Finding, id string, st finding.Status) int {
	n := 0
	for _, f := range fs {
		if f.ID == id && f.Status == st {
			n++
		}
	}
	return n
}

func TestDebianNode(t *testing.T) {
	fs := runFixture(t, "testdata/debian")
	check(t, fs, []want{
		{IDRootPassword, finding.Fail, finding.Medium, "root can log in with a password (/etc/shadow line 1)"},
		{IDUID0, finding.Pass, "", ""},
		{IDEmptyPassword, finding.Pass, "", ""},
		{IDUnshadowed, finding.Pass, "", ""},
		{IDSudoAll, finding.Fail, finding.Medium, "ubuntu may run any command through sudo (/etc/sudoers.d/90-cloud-init-users line 4)"},
		{IDSudoNopasswd, finding.Fail, finding.High, "ubuntu may run any command as root through sudo without a password"},
	})
	if n := count(fs, IDSudoAll, finding.Fail) + count(fs, IDSudoNopasswd, finding.Fail); n != 2 {
		t.Errorf("%d sudo failures, want 2 (files with a '.' or ending in '~' must be skipped)", n)
	}
	if n := count(fs, IDSudoers, finding.Error); n != 0 {
		t.Errorf("%d sudoers errors on a stock Debian sudoers", n)
	}
}

func TestRHELNode(t *testing.T) {
	fs := runFixture(t, "testdata/rhel")
	check(t, fs, []want{
		{IDRootPassword, finding.Pass, finding.Info, `marker "!!"`},
		{IDSudoAll, finding.Fail, "", "ec2-user may run any command"},
		{IDSudoNopasswd, finding.Fail, finding.High, "ec2-user may run any command as root through sudo without a password"},
		{IDSudoNopasswd, finding.Fail, finding.Low, "MONITORS may run /usr/lib64/nagios/plugins/check_disk, /usr/bin/systemctl status kubelet through sudo without a password (/etc/sudoers.d/monitoring line 4)"},
	})
	for _, f := range fs {
		if f.ID == IDSudoNopasswd && strings.HasPrefix(f.Message, "MONITORS") && f.Evidence.Get("members") != "nagios, zabbix" {
			t.Errorf("User_Alias members = %q", f.Evidence.Get("members"))
		}
		if f.ID == IDSudoAll && strings.Contains(f.Message, "%ops") {
			t.Errorf("a Cmnd_Alias of specific commands is not ALL: %s", f.Message)
		}
	}
	if n := count(fs, IDSudoers, finding.Error); n != 0 {
		t.Errorf("%d sudoers errors on a stock RHEL sudoers", n)
	}
}

func TestHardenedNode(t *testing.T) {
	fs := runFixture(t, "testdata/hardened")
	for _, f := range fs {
		if f.Status != finding.Pass && f.Status != finding.Skip {
			t.Errorf("hardened node: %s %s: %s", f.ID, f.Status, f.Message)
		}
	}
	check(t, fs, []want{{IDRootPassword, finding.Pass, "", `locked, marker "!hash"`}})
}

// brokenTree copies testdata/broken (symlinks kept) and adds a 100 MiB
// sparse file, which is too big to commit.
func brokenTree(t testing.TB) string {
	dst := t.TempDir()
	probetest.CopyTreeTo(t, "testdata/broken", dst)
	huge, err := os.Create(filepath.Join(dst, "etc/sudoers.d/huge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	huge.Close()
	return dst
}

func TestBrokenNode(t *testing.T) {
	fs := runFixture(t, brokenTree(t))
	check(t, fs, []want{
		{IDPasswd, finding.Error, finding.Medium, "/etc/passwd line 4: 1 fields, want 7 (and 1 more malformed lines)"},
		{IDShadow, finding.Error, finding.Medium, "/etc/shadow line 3: not a name:password:... entry"},
		{IDRootPassword, finding.Fail, finding.Critical, "root's password field is empty"},
		{IDUID0, finding.Fail, finding.Critical, "toor has user id 0"},
		{IDEmptyPassword, finding.Fail, finding.Critical, "guest has an empty password field in /etc/passwd"},
		{IDEmptyPassword, finding.Fail, finding.Critical, "kiosk has an empty password field in /etc/shadow"},
		{IDUnshadowed, finding.Fail, finding.High, "toor keeps its password hash"},
		{IDSudoers, finding.Error, "", "/etc/sudoers line 4: include loop: /etc/sudoers includes itself"},
		{IDSudoers, finding.Error, "", "/etc/sudoers line 7: syntax error"},
		{IDSudoers, finding.Error, "", "/etc/sudoers.d/binary line 1: binary data"},
		{IDSudoers, finding.Error, "", "/etc/sudoers.d/huge: file exceeds the size limit"},
		{IDSudoers, finding.Error, "", "/etc/sudoers.d/escape: no such file or directory"},
		{IDSudoers, finding.Error, "", "/etc/sudoers.d/escape-relative line 1: syntax error"},
		{IDSudoNopasswd, finding.Fail, finding.High, "#0 may run any command as root"},
		{IDSudoNopasswd, finding.Fail, finding.High, "guest may run any command as root through sudo without a password (/etc/sudoers.local line 2)"},
	})
	for _, f := range fs {
		if f.Evidence.Get("user") == "ghost" {
			t.Errorf("ghost (x without a shadow entry) cannot log in: %+v", f)
		}
	}
}

// TestNoHashInOutput scans the JSON of every finding of every fixture for
// the fixture hashes, whole or in part.
func TestNoHashInOutput(t *testing.T) {
	raw, err := os.ReadFile("testdata/hashes.txt")
	if err != nil {
		t.Fatal(err)
	}
	var needles []string
	for _, h := range strings.Fields(string(raw)) {
		needles = append(needles, h, h[strings.LastIndexByte(h, '$')+1:][:16])
	}
	// The broken shadow file holds a hash truncated to 40 characters.
	needles = append(needles, strings.Fields(string(raw))[3][:40])
	for _, dir := range []string{"testdata/debian", "testdata/rhel", "testdata/hardened", brokenTree(t)} {
		out, err := json.Marshal(runFixture(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"passwordState"`) {
			t.Fatalf("%s: no account findings at all", dir)
		}
		for _, n := range needles {
			if strings.Contains(string(out), n) {
				t.Errorf("%s: findings contain hash material %q", dir, n)
			}
		}
	}
}

func TestRootLockVerdict(t *testing.T) {
	pol := policy.Section[Policy](policy.Default(), Name)
	for _, c := range []struct {
		pw         Password
		usePAM     string
		prl        string
		status     finding.Status
		msgContain string
	}{
		{Password{State: Locked, Marker: "!"}, "no", "prohibit-password", finding.Pass, "UsePAM is no"},
		{Password{State: Locked, Marker: "!hash"}, "no", "yes", finding.Pass, "key-based ones included"},
		{Password{State: Locked, Marker: "!!"}, "yes", "prohibit-password", finding.Fail, "with UsePAM yes sshd leaves the lock to PAM"},
		{Password{State: Disabled, Marker: "*"}, "no", "prohibit-password", finding.Fail, "sshd never treats as locked"},
		{Password{State: Disabled, Marker: "*"}, "yes", "no", finding.Pass, "PermitRootLogin is no"},
		{Password{State: Locked, Marker: "!"}, "yes", "no", finding.Pass, "PermitRootLogin is no"},
		{Password{State: Usable}, "yes", "yes", finding.Skip, "no lock"},
		{Password{State: Empty}, "no", "yes", finding.Skip, "no lock"},
	} {
		f := rootLockVerdict(pol, &Account{Name: "root", Password: c.pw}, sshdView{Config: "/etc/ssh/sshd_config", UsePAM: c.usePAM, PermitRootLogin: c.prl})
		if f.Status != c.status || !strings.Contains(f.Message, c.msgContain) {
			t.Errorf("%+v UsePAM %s PermitRootLogin %s: %s %q", c.pw, c.usePAM, c.prl, f.Status, f.Message)
		}
	}
}

func TestRootLockFixtures(t *testing.T) {
	for dir, w := range map[string]want{
		// Locked "!hash", UsePAM no, root allowed only from 10.0.0.0/8.
		"testdata/hardened": {IDRootLockSSH, finding.Pass, finding.Info, "sshd refuses every root login"},
		// "!!", UsePAM yes (drop-in), PermitRootLogin defaults to prohibit-password.
		"testdata/rhel":   {IDRootLockSSH, finding.Fail, finding.Low, "with PermitRootLogin without-password a key in root's authorized_keys still logs in"},
		"testdata/debian": {IDRootLockSSH, finding.Skip, "", "usable"},
	} {
		fs := runFixture(t, dir)
		check(t, fs, []want{w})
		if dir == "testdata/hardened" {
			for _, f := range fs {
				if f.ID == IDRootLockSSH && !strings.Contains(f.Evidence.Get("permittingContexts"), "Match Address 10.0.0.0/8") {
					t.Errorf("permitting contexts: %q", f.Evidence.Get("permittingContexts"))
				}
			}
		}
	}
}

// TestRootLockMatchContext: root may log in only from one network, through
// a Match block; a "*" password does not stop it, and the finding names the
// block.
func TestRootLockMatchContext(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"etc/passwd":          "root:x:0:0:root:/root:/bin/bash\n",
		"etc/shadow":          "root:*:19600:0:99999:7:::\n",
		"etc/ssh/sshd_config": "PermitRootLogin no\nUsePAM no\nMatch Address 10.0.0.0/8\n    PermitRootLogin prohibit-password\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check(t, runFixture(t, dir), []want{{IDRootLockSSH, finding.Fail, finding.Low,
		"root login permitted in: Match Address 10.0.0.0/8 (/etc/ssh/sshd_config line 3)"}})
}

// TestRootLockFollowsSSHDConfigPath: a policy that moves sshd's
// configuration moves it for both probes, so they judge the same file.
func TestRootLockFollowsSSHDConfigPath(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"etc/passwd":              "root:x:0:0:root:/root:/bin/bash\n",
		"etc/shadow":              "root:*:19600:0:99999:7:::\n",
		"etc/ssh/sshd_config":     "PermitRootLogin no\nUsePAM no\n",
		"etc/ssh/alt/sshd_config": "PermitRootLogin prohibit-password\nUsePAM no\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := policy.Parse([]byte("sshd:\n  configPath: /etc/ssh/alt/sshd_config\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	env := probetest.Env(t, dir, probes.Worker)
	env.Policy = pol
	var got []finding.Finding
	for _, p := range []probes.Probe{&Probe{}, &sshd.Probe{}} {
		got = append(got, p.Run(context.Background(), env)...)
	}
	verdict := map[string]finding.Status{}
	for _, f := range got {
		verdict[f.ID] = f.Status
		if f.ID == IDRootLockSSH && f.Evidence.Get("sshdConfig") != "/etc/ssh/alt/sshd_config" {
			t.Errorf("root-lock judged %s: %s", f.Evidence.Get("sshdConfig"), f.Message)
		}
	}
	if verdict[IDRootLockSSH] != finding.Fail || verdict[sshd.IDRootLogin] != finding.Fail {
		t.Errorf("accounts %s = %s, sshd %s = %s: both must judge /etc/ssh/alt/sshd_config (root may log in with a key)",
			IDRootLockSSH, verdict[IDRootLockSSH], sshd.IDRootLogin, verdict[sshd.IDRootLogin])
	}
}
