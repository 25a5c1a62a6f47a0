package accounts

import (
	"bytes"
	"regexp"
	"testing"
)

var passwdMsg = regexp.MustCompile(`^(\d+ fields, want 7|empty user name|user id is not a number|not a name:password:\.\.\. entry)$`)

// The parsers must never fail on any input and never echo a line back:
// their messages are fixed strings, so no password field can leak.
func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nalice:$6$s$h:1000:1000:::\n+@nis::::::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, errs := ParsePasswd("/etc/passwd", data)
		lines := bytes.Count(data, []byte{'\n'}) + 1
		for _, e := range es {
			if e.Line < 1 || e.Line > lines || e.Name == "" {
				t.Fatalf("entry %+v", e)
			}
		}
		for _, e := range errs {
			if !passwdMsg.MatchString(e.Msg) || e.Line < 1 || e.Line > lines {
				t.Fatalf("error %q", e.Error())
			}
		}
	})
}

func FuzzParseShadow(f *testing.F) {
	f.Add([]byte("root:!$6$s$h:19600:0:99999:7:::\nold:$1$a$b\nnocolon\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, errs := ParseShadow("/etc/shadow", data)
		for _, e := range es {
			if e.Password.State == "" || bytes.Contains([]byte(e.Password.Marker), []byte("$")) {
				t.Fatalf("entry %+v", e)
			}
		}
		for _, e := range errs {
			if !passwdMsg.MatchString(e.Msg) {
				t.Fatalf("error %q", e.Error())
			}
		}
	})
}

func FuzzParseSudoers(f *testing.F) {
	for _, c := range sudoersCorpus {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf := ParseSudoers("/etc/sudoers", data)
		lines := bytes.Count(data, []byte{'\n'}) + 1
		s := &Sudoers{aliases: map[string]map[string][]string{}}
		for _, a := range sf.Aliases {
			if s.aliases[a.Kind] == nil {
				s.aliases[a.Kind] = map[string][]string{}
			}
			s.aliases[a.Kind][a.Name] = a.Members
		}
		for _, sp := range sf.Specs {
			if sp.Line < 1 || sp.Line > lines || len(sp.Users) == 0 || len(sp.Privs) == 0 {
				t.Fatalf("spec %+v", sp)
			}
			s.Specs = append(s.Specs, LocatedSpec{File: "/etc/sudoers", UserSpec: sp})
		}
		for _, g := range s.Grants() {
			if g.NopasswdAll && (!g.All || !g.Nopasswd) {
				t.Fatalf("grant %+v", g)
			}
		}
		for _, e := range sf.Errors {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error %v", e)
			}
		}
	})
}
