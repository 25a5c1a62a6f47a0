package accounts

import (
	"bytes"
	"fmt"
	"strconv"
)

// PasswordState is what a password field allows, never the field itself: the
// parsers classify the field and drop it, so no hash can reach a finding or a
// log line.
type PasswordState string

const (
	// Empty: the field is empty, the account logs in without a password.
	Empty PasswordState = "empty"
	// Locked: the field starts with "!" (passwd -l, or "!!" / "!" for a
	// password never set). sshd built with UsePAM no treats it as locked.
	Locked PasswordState = "locked"
	// Disabled: "*" or another string no crypt(3) output can equal, so no
	// password matches, but tools (and sshd) do not call it locked.
	Disabled PasswordState = "disabled"
	// Usable: a password hash; the account can log in with its password.
	Usable PasswordState = "usable"
	// Shadowed: the passwd field is "x", the real state is in /etc/shadow.
	Shadowed PasswordState = "shadowed"
)

// Password is a classified password field.
type Password struct {
	State PasswordState
	// Marker is the lock or disable marker ("!", "!!", "!<hash>", "*"), with
	// any hash behind it replaced by the word "hash".
	Marker string
}

// classify turns a password field into its state. field is never retained.
func classify(field []byte) Password {
	switch {
	case len(field) == 0:
		return Password{State: Empty}
	case field[0] == '!':
		m := "!"
		if bytes.Equal(field, []byte("!!")) {
			m = "!!"
		} else if len(field) > 1 && field[1] != '*' && field[1] != '!' {
			m = "!hash"
		} else if len(field) > 1 {
			m = string(field[:2])
		}
		return Password{State: Locked, Marker: m}
	case field[0] == '*':
		return Password{State: Disabled, Marker: "*"}
	case crypted(field):
		return Password{State: Usable}
	}
	return Password{State: Disabled, Marker: "not a crypt hash"}
}

// crypted reports whether field can be a crypt(3) result: "$id$...", the
// 13-character traditional DES form, or BSDi's "_" extended DES.
func crypted(field []byte) bool {
	if field[0] == '$' {
		return len(field) > 3
	}
	if field[0] == '_' {
		return len(field) == 20 && cryptChars(field[1:])
	}
	return len(field) == 13 && cryptChars(field)
}

func cryptChars(b []byte) bool {
	for _, c := range b {
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// PasswdEntry is one /etc/passwd account.
type PasswdEntry struct {
	Name     string
	Password Password
	UID      uint32
	Line     int
}

// ShadowEntry is one /etc/shadow account.
type ShadowEntry struct {
	Name     string
	Password Password
	Line     int
}

// LineError is a malformed line. It never quotes the line, which may hold a
// hash.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg) }

// skipLine reports lines nss_files ignores: blank, comments, and NIS "+"/"-"
// compat entries (which name no local account).
func skipLine(line []byte) bool {
	t := bytes.TrimLeft(line, " \t")
	return len(t) == 0 || t[0] == '#' || t[0] == '+' || t[0] == '-'
}

// ParsePasswd parses /etc/passwd (name:password:uid:gid:gecos:home:shell).
func ParsePasswd(file string, data []byte) ([]PasswdEntry, []*LineError) {
	var out []PasswdEntry
	var errs []*LineError
	eachLine(data, func(n int, line []byte) {
		if skipLine(line) {
			return
		}
		f := bytes.Split(line, []byte{':'})
		if len(f) != 7 {
			errs = append(errs, &LineError{file, n, fmt.Sprintf("%d fields, want 7", len(f))})
			return
		}
		if len(f[0]) == 0 {
			errs = append(errs, &LineError{file, n, "empty user name"})
			return
		}
		uid, err := strconv.ParseUint(string(f[2]), 10, 32)
		if err != nil {
			errs = append(errs, &LineError{file, n, "user id is not a number"})
			return
		}
		p := Password{State: Shadowed}
		if !bytes.Equal(f[1], []byte("x")) {
			p = classify(f[1])
		}
		out = append(out, PasswdEntry{Name: printable(f[0]), Password: p, UID: uint32(uid), Line: n})
	})
	return out, errs
}

// ParseShadow parses /etc/shadow. Like glibc it accepts the old two-field
// form; only the name and password fields matter here.
func ParseShadow(file string, data []byte) ([]ShadowEntry, []*LineError) {
	var out []ShadowEntry
	var errs []*LineError
	eachLine(data, func(n int, line []byte) {
		if skipLine(line) {
			return
		}
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 {
			errs = append(errs, &LineError{file, n, "not a name:password:... entry"})
			return
		}
		pw, _, _ := bytes.Cut(rest, []byte{':'})
		out = append(out, ShadowEntry{Name: printable(name), Password: classify(pw), Line: n})
	})
	return out, errs
}

// eachLine calls fn with each line and its 1-based number, without the
// trailing "\n" or "\r\n".
func eachLine(data []byte, fn func(n int, line []byte)) {
	for n := 1; len(data) > 0; n++ {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		fn(n, bytes.TrimSuffix(line, []byte{'\r'}))
	}
}

// printable makes a name from a hostile file safe to print.
func printable(b []byte) string {
	s := string(b)
	if strconv.CanBackquote(s) && !bytes.ContainsAny(b, "`") {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}
