package sshd

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the sshd parser as the main file of an
// empty host: it must never panic or hang, and an accepted configuration
// must print every keyword sshd -T always prints. The seed corpus is in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, c := range handWritten {
		f.Add([]byte(c), "user=root,addr=10.1.2.3,lport=22")
	}
	f.Add([]byte("Match User root\n\tPermitRootLogin yes\n"), "user=root")
	f.Add([]byte("Include /etc/ssh/*.conf\n"), "")
	root := openRoot(f, f.TempDir())
	f.Fuzz(func(t *testing.T, data []byte, spec string) {
		conn, err := ParseConnSpec(spec)
		if err != nil {
			return
		}
		p := &parser{root: root, host: newHostDB(root)}
		e, err := p.firstPass("/etc/ssh/sshd_config", loadBuffer(data))
		if err != nil {
			if _, ok := err.(*RefusedError); !ok {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty refusal")
			}
			return
		}
		cfg, err := e.evaluate(conn)
		if err != nil {
			if _, ok := err.(*RefusedError); !ok {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		for _, kw := range []string{"port", "permitrootlogin", "passwordauthentication", "usepam", "ciphers", "macs", "kexalgorithms", "listenaddress"} {
			if len(cfg.Values(kw)) == 0 {
				t.Fatalf("accepted configuration lacks %s", kw)
			}
		}
		for _, l := range cfg.Lines() {
			if strings.Contains(l, "\n") {
				t.Fatalf("output line spans lines: %q", l)
			}
		}
	})
}
