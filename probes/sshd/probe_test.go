package sshd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func openRoot(t testing.TB, dir string) *hostfs.Root {
	t.Helper()
	r, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func runProbe(t *testing.T, dir string, pol *policy.Policy) map[string][]finding.Finding {
	t.Helper()
	if pol == nil {
		pol = policy.Default()
	}
	env := &probes.Env{Root: openRoot(t, dir), Policy: pol, Role: probes.Worker, Log: zerolog.Nop()}
	byID := map[string][]finding.Finding{}
	for _, f := range (&Probe{}).Run(context.Background(), env) {
		if f.Probe != Name || f.Title == "" || f.Message == "" {
			t.Errorf("malformed finding %+v", f)
		}
		byID[f.ID] = append(byID[f.ID], f)
	}
	return byID
}

func statusOf(t *testing.T, fs map[string][]finding.Finding, id string) finding.Status {
	t.Helper()
	list := fs[id]
	if len(list) == 0 {
		t.Fatalf("no %s finding", id)
	}
	st := finding.Pass
	for _, f := range list {
		if f.Status != finding.Pass {
			st = f.Status
		}
	}
	return st
}

func TestHardenedFixture(t *testing.T) {
	fs := runProbe(t, "testdata/hardened", nil)
	for id, list := range fs {
		for _, f := range list {
			if f.Status != finding.Pass {
				t.Errorf("%s: %s %s", id, f.Status, f.Message)
			}
		}
	}
	if len(fs) != 12 {
		t.Errorf("got %d check ids, want 12: %v", len(fs), fs)
	}
}

func TestDebianFixture(t *testing.T) {
	fs := runProbe(t, "testdata/debian", nil)
	want := map[string]finding.Status{
		IDConfig: finding.Pass, IDRootLogin: finding.Fail, IDPasswordAuth: finding.Fail,
		IDEmptyPasswords: finding.Pass, IDX11Forwarding: finding.Fail, IDMaxAuthTries: finding.Fail,
		IDWeakCiphers: finding.Pass, IDWeakMACs: finding.Fail, IDWeakKex: finding.Pass,
		IDLoginGraceTime: finding.Fail, IDClientAlive: finding.Fail, IDAccessRestriction: finding.Fail,
	}
	for id, st := range want {
		if got := statusOf(t, fs, id); got != st {
			t.Errorf("%s: %s, want %s: %+v", id, got, st, fs[id])
		}
	}
	root := fs[IDRootLogin][0]
	if !strings.Contains(root.Message, "OpenSSH's default") || root.Evidence.Get("value") != "without-password" {
		t.Errorf("root login finding should blame the default: %+v", root)
	}
	x11 := fs[IDX11Forwarding][0]
	if x11.Evidence.Get("file") != "/etc/ssh/sshd_config" || x11.Evidence.Get("line") != "90" {
		t.Errorf("X11Forwarding should point at sshd_config line 90: %+v", x11.Evidence)
	}
	// KbdInteractiveAuthentication no: only PasswordAuthentication is blamed.
	if pw := fs[IDPasswordAuth][0]; strings.Contains(pw.Message, "KbdInteractive") {
		t.Errorf("password finding: %s", pw.Message)
	}
}

func TestRHELFixture(t *testing.T) {
	fs := runProbe(t, "testdata/rhel", nil)
	if got := statusOf(t, fs, IDWeakMACs); got != finding.Fail {
		t.Fatalf("weak MACs: %s", got)
	}
	mac := fs[IDWeakMACs][0]
	if mac.Evidence.Get("file") != "/etc/crypto-policies/back-ends/opensshserver.config" || mac.Evidence.Get("weak") != "hmac-sha1,hmac-sha1-etm@openssh.com" {
		t.Errorf("weak MACs evidence: %+v", mac.Evidence)
	}
	if got := statusOf(t, fs, IDX11Forwarding); got != finding.Fail {
		t.Errorf("X11 forwarding: %s", got)
	}
	cfg, err := Effective(openRoot(t, "testdata/rhel"), "", ConnSpec{User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Get("kbdinteractiveauthentication"); got != "no" {
		t.Errorf("ChallengeResponseAuthentication no must set kbdinteractiveauthentication: %q", got)
	}
	if got := cfg.Get("ciphers"); !strings.HasPrefix(got, "aes256-gcm@openssh.com,chacha20") {
		t.Errorf("crypto policy ciphers: %q", got)
	}
	if len(cfg.Files) != 3 {
		t.Errorf("files: %v", cfg.Files)
	}
}

func TestBrokenFixture(t *testing.T) {
	root := "testdata/broken"
	// The 100 MiB file is made here, sparse, never committed.
	huge := filepath.Join(root, "etc/ssh/huge.conf")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(huge) })
	cases := []struct {
		config string
		want   []string // substrings of the error finding's message
	}{
		{"/etc/ssh/sshd_config", []string{"Too many recursive configuration includes"}},
		{"/etc/ssh/self.conf", []string{"/etc/ssh/self.conf", "Too many recursive configuration includes"}},
		{"/etc/ssh/truncated.conf", []string{"/etc/ssh/truncated.conf line 3: Bad SSH2 cipher spec 'aes128-ctr,aes256-gc'"}},
		{"/etc/ssh/binary.conf", []string{"/etc/ssh/binary.conf", "Bad configuration option"}},
		{"/etc/ssh/escape.conf", []string{"/etc/ssh/sshd_config.d/10-escape.conf", "no such file or directory"}},
		{"/etc/ssh/symloop-main.conf", []string{"/etc/ssh/symloop.conf", "too many levels of symbolic links"}},
		{"/etc/ssh/huge-main.conf", []string{"/etc/ssh/huge.conf", "exceeds the size limit"}},
		{"/etc/ssh/missing.conf", []string{"/etc/ssh/missing.conf", "does not exist"}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.config), func(t *testing.T) {
			pol, err := policy.Parse([]byte("sshd:\n  configPath: "+c.config+"\n"), "test")
			if err != nil {
				t.Fatal(err)
			}
			fs := runProbe(t, root, pol)
			list := fs[IDConfig]
			if len(fs) != 1 || len(list) != 1 || list[0].Status != finding.Error {
				t.Fatalf("want one error finding, got %+v", fs)
			}
			for _, w := range c.want {
				if !strings.Contains(list[0].Message, w) {
					t.Errorf("message %q lacks %q", list[0].Message, w)
				}
			}
		})
	}
}

func TestSkipWithoutSSHD(t *testing.T) {
	fs := runProbe(t, t.TempDir(), nil)
	if len(fs) != 1 || fs[IDConfig][0].Status != finding.Skip {
		t.Fatalf("want a single skip finding, got %+v", fs)
	}
}

// TestRootContextsNamesMatchBlock: root login permitted only from one
// network must be found and attributed to its Match block.
func TestRootContextsNamesMatchBlock(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/ssh/sshd_config.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, filepath.Join(dir, "etc/ssh"), "sshd_config",
		"PermitRootLogin no\nInclude sshd_config.d/*.conf\nMatch User alice\n  PermitRootLogin yes\n")
	writeConfig(t, filepath.Join(dir, "etc/ssh/sshd_config.d"), "10-backup.conf",
		"Match Address 10.20.0.0/16,!10.20.9.0/24 User root,backup\n  PermitRootLogin forced-commands-only\n")
	root := openRoot(t, dir)
	ctxs, err := RootContexts(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ctxs) != 2 {
		t.Fatalf("want the global context and the backup block, got %d: %+v", len(ctxs), ctxs)
	}
	if got := ctxs[0].Config.Get("permitrootlogin"); got != "no" {
		t.Errorf("global: %s", got)
	}
	c := ctxs[1]
	if c.Block == nil || c.Block.File != "/etc/ssh/sshd_config.d/10-backup.conf" || c.Block.Line != 1 {
		t.Fatalf("block: %+v", c.Block)
	}
	if c.Config.Get("permitrootlogin") != "forced-commands-only" || c.Conn.Addr != "10.20.0.1" {
		t.Errorf("context: %s via %s", c.Config.Get("permitrootlogin"), c.Conn)
	}
	fs := runProbe(t, dir, nil)
	var msgs []string
	for _, f := range fs[IDRootLogin] {
		if f.Status == finding.Fail {
			msgs = append(msgs, f.Message)
		}
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Match Address 10.20.0.0/16,!10.20.9.0/24 User root,backup") ||
		!strings.Contains(msgs[0], "10-backup.conf line 2") {
		t.Errorf("root-login findings: %q", msgs)
	}
	// With prohibit-password and forced-commands-only allowed it passes.
	pol, err := policy.Parse([]byte("sshd:\n  rootLoginAllowed: [no, forced-commands-only]\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, runProbe(t, dir, pol), IDRootLogin); st != finding.Pass {
		t.Errorf("with forced-commands-only allowed: %s", st)
	}
}

func TestEffectiveAPI(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, filepath.Join(dir, "etc/ssh"), "sshd_config",
		"UsePAM yes\nAllowUsers alice bob\nPort 2222\nPort 22\nMatch LocalPort 2222\n  PermitRootLogin no\n")
	root := openRoot(t, dir)
	cfg, err := Effective(root, "", ConnSpec{User: "root", LocalPort: 2222})
	if err != nil {
		t.Fatal(err)
	}
	for kw, want := range map[string]string{
		"usepam": "yes", "permitrootlogin": "no", "allowusers": "alice bob", "port": "2222 22",
		"denyusers": "", "kbdinteractiveauthentication": "yes",
	} {
		if got := cfg.Get(kw); got != want {
			t.Errorf("Get(%s) = %q, want %q", kw, got, want)
		}
	}
	if f, l, ok := cfg.Source("permitrootlogin"); !ok || f != "/etc/ssh/sshd_config" || l != 6 {
		t.Errorf("Source: %s %d %v", f, l, ok)
	}
	if _, _, ok := cfg.Source("maxauthtries"); ok {
		t.Error("maxauthtries is a default")
	}
	// Without lport, sshd -T refuses to evaluate Match LocalPort.
	_, err = Effective(root, "", ConnSpec{User: "root"})
	if re, ok := err.(*RefusedError); !ok || !strings.Contains(re.Error(), "'lport' not in connection test specification") {
		t.Errorf("missing lport: %v", err)
	}
}

func TestPolicyValidation(t *testing.T) {
	for _, bad := range []string{
		"sshd:\n  rootLoginAllowed: [sometimes]\n",
		"sshd:\n  maxAuthTries: 0\n",
		"sshd:\n  configPath: sshd_config\n",
		"sshd:\n  checks:\n    rootLogin: {severity: urgent}\n",
		"sshd:\n  checks:\n    rootLogins: {enabled: false}\n",
	} {
		if _, err := policy.Parse([]byte(bad), "test"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	pol, err := policy.Parse([]byte("sshd:\n  checks:\n    x11Forwarding: {enabled: false}\n    rootLogin: {severity: critical}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	fs := runProbe(t, "testdata/debian", pol)
	if len(fs[IDX11Forwarding]) != 0 {
		t.Error("disabled check still ran")
	}
	if f := fs[IDRootLogin][0]; f.Severity != finding.Critical {
		t.Errorf("severity override: %s", f.Severity)
	}
	if f := fs[IDPasswordAuth][0]; f.Severity != finding.Medium {
		t.Errorf("other checks keep their defaults: %+v", f)
	}
}
