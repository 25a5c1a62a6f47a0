package accounts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sudoersCorpus are single sudoers files without includes, so that visudo
// judges exactly what ParseSudoers sees.
var sudoersCorpus = []string{
	"root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n",
	"ubuntu ALL=(ALL) NOPASSWD:ALL\n",
	"alice ALL = NOPASSWD : ALL\n",
	"alice ALL = ALL # comment\n",
	"#include\n",
	"@include\n",
	"#1 do this\n",
	"#0 ALL=(ALL) ALL\n",
	"%#1000 ALL=(ALL) ALL\n",
	"alice ALL = /bin/ls :\n",
	"alice ALL = /bin/ls : db = ALL\n",
	"Cmnd_Alias lower = /bin/ls\n",
	"Cmnd_Alias A = /bin/ls, /bin/cat : B = ALL\nalice ALL = A, B\n",
	"alice ALL=(root /bin/ls\n",
	"alice ALL = /usr/bin/env A=b\n",
	"alice ALL = ALL : ALL = ALL\n",
	"alice,bob ALL=ALL\n",
	"alice , bob ALL , web1 = (root) ALL\n",
	"User_Alias A = \n",
	"User_Alias ADMINS = alice, \\\n bob\nADMINS ALL = ALL\n",
	"alice ALL = sha256:0123abcd /usr/bin/id\n",
	"alice ALL = sha256:" + strings.Repeat("0a", 32) + " /usr/bin/id\n",
	"alice ALL = sha224:" + strings.Repeat("A", 38) + "== /usr/bin/id\n",
	"alice ALL = sha256 : abc /bin/ls\n",
	"alice ALL = TIMEOUT=5m CWD=/tmp NOEXEC: !/bin/sh, /bin/ls\n",
	"alice ALL = /usr/bin/printf a\\,b\\:c\n",
	"Defaults env_reset\nDefaults:%ops !lecture\nDefaults>root !set_logname\nDefaults!/bin/ls noexec\n",
	"alice\n",
	"alice ALL\n",
	"alice ALL =\n",
	"alice ALL = \x00\n",
	"alice ALL = (ALL : ALL) NOPASSWD: SETENV: /bin/ls, PASSWD: /bin/cat\n",
	"alice ALL = (:wheel) /bin/ls\n",
	"\"alice smith\" ALL = ALL\n",
	"this line is not sudoers\n",
}

// TestParseSudoersAgreesWithVisudo checks ParseSudoers's verdict (syntax
// error or not) against the real visudo -c on every corpus entry and on the
// fixtures' files that include nothing.
func TestParseSudoersAgreesWithVisudo(t *testing.T) {
	visudo, err := exec.LookPath("visudo")
	if err != nil {
		t.Skip("visudo not installed (Debian package sudo)")
	}
	cases := map[string][]byte{}
	for i, c := range sudoersCorpus {
		cases["corpus-"+string(rune('a'+i))] = []byte(c)
	}
	for _, f := range []string{"rhel/etc/sudoers.d/monitoring", "rhel/etc/sudoers.d/90-cloud-init-users",
		"hardened/etc/sudoers.d/ops", "debian/etc/sudoers.d/README", "debian/etc/sudoers.d/90-cloud-init-users",
		"broken/etc/sudoers.d/binary"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		cases[f] = b
	}
	dir := t.TempDir()
	for name, data := range cases {
		p := filepath.Join(dir, "sudoers")
		if err := os.WriteFile(p, data, 0o440); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(visudo, "-c", "-f", p).CombinedOutput()
		visudoOK := err == nil
		if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
			t.Fatal(err)
		}
		sf := ParseSudoers(p, data)
		if ok := len(sf.Errors) == 0; ok != visudoOK {
			t.Errorf("%s %q: ParseSudoers ok=%v (%v), visudo ok=%v: %s", name, data, ok, sf.Errors, visudoOK, strings.TrimSpace(string(out)))
		}
	}
}
