package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runSSHDCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"sshd"}, args...), IO{Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

// TestSSHDEffective runs `nodeguard sshd effective` on the sshd probe's
// fixtures: sshd -T's format, Match evaluation from -C, refusals.
func TestSSHDEffective(t *testing.T) {
	fixtures := filepath.Join("..", "..", "probes", "sshd", "testdata")
	out, errOut, code := runSSHDCmd(t, "effective", "--host-root", filepath.Join(fixtures, "hardened"),
		"-C", "user=ops,addr=10.1.2.3,lport=22")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"permitrootlogin no\n", "allowtcpforwarding local\n", "maxauthtries 3\n",
		"allowgroups ssh-users\n", "listenaddress [::]:22\nlistenaddress 0.0.0.0:22\n", "usepam yes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 26 {
		t.Errorf("%d lines, want 26:\n%s", n, out)
	}
	// Without the bastion address the Match block does not apply.
	out, _, _ = runSSHDCmd(t, "effective", "--host-root", filepath.Join(fixtures, "hardened"), "-C", "user=ops,addr=192.0.2.9")
	if !strings.Contains(out, "allowtcpforwarding no\n") {
		t.Errorf("global AllowTcpForwarding expected:\n%s", out)
	}

	_, errOut, code = runSSHDCmd(t, "effective", "--host-root", filepath.Join(fixtures, "broken"), "-f", "/etc/ssh/truncated.conf")
	if code != ExitFindings || strings.TrimSpace(errOut) != "/etc/ssh/truncated.conf line 3: Bad SSH2 cipher spec 'aes128-ctr,aes256-gc'." {
		t.Errorf("refused config: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runSSHDCmd(t, "effective", "--host-root", filepath.Join(fixtures, "broken"), "-f", "/etc/ssh/escape.conf")
	if code != ExitUsage || !strings.Contains(errOut, "/etc/ssh/sshd_config.d/10-escape.conf") {
		t.Errorf("unreadable include: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code = runSSHDCmd(t, "effective", "-C", "usr=root"); code != ExitUsage || !strings.Contains(errOut, "Invalid test mode specification usr=root") {
		t.Errorf("bad -C: exit %d, stderr %q", code, errOut)
	}
	if _, _, code = runSSHDCmd(t, "status"); code != ExitUsage {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	// -f is relative to the working directory, like sshd's.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c"), []byte("PermitRootLogin=no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if out, errOut, code = runSSHDCmd(t, "effective", "-f", "c"); code != ExitOK || !strings.Contains(out, "permitrootlogin no\n") {
		t.Errorf("relative -f: exit %d %s", code, errOut)
	}
}
