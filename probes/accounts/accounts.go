// Package accounts audits local accounts and sudo: root's password state, other
// user-id-0 accounts, empty and unshadowed passwords, sudoers ALL and NOPASSWD
// grants, and whether sshd honours a locked root password.
//
// Password fields are classified while parsing and then dropped, so a hash
// can never reach a finding, a log line or an error message.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "accounts"

// Finding ids of this probe.
const (
	IDPasswd        = "accounts.passwd"
	IDShadow        = "accounts.shadow"
	IDRootPassword  = "accounts.root-password"
	IDUID0          = "accounts.uid0"
	IDEmptyPassword = "accounts.empty-password"
	IDUnshadowed    = "accounts.unshadowed"
	IDSudoers       = "accounts.sudoers"
	IDSudoAll       = "accounts.sudo-all"
	IDSudoNopasswd  = "accounts.sudo-nopasswd"
	IDRootLockSSH   = "accounts.root-lock-ssh"
)

const (
	passwdFile  = "/etc/passwd"
	shadowFile  = "/etc/shadow"
	sudoersFile = "/etc/sudoers"
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is the accounts probe.
type Probe struct{}

func (*Probe) Name() string { return Name }

// Unknown is the state of a shadowed password when /etc/shadow cannot be read.
const Unknown PasswordState = "unknown"

// Account is a passwd entry with its effective password state.
type Account struct {
	Name     string
	UID      uint32
	Password Password
	// Source is the file the password state comes from, Line its line.
	Source string
	Line   int
	// InPasswd: the password field of /etc/passwd itself is not "x".
	InPasswd bool
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	accts, out := ReadAccounts(env.Root)
	if accts != nil {
		out = append(out, judgeAccounts(pol, accts)...)
	}
	out = append(out, judgeSudoers(env.Root, pol)...)
	out = append(out, judgeRootLock(env, pol, accts)...)
	return out
}

// ReadAccounts reads /etc/passwd and /etc/shadow. It returns nil accounts
// when /etc/passwd cannot be read; the findings report what went wrong.
func ReadAccounts(root *hostfs.Root) ([]Account, []finding.Finding) {
	var out []finding.Finding
	data, err := root.ReadFile(passwdFile)
	if err != nil {
		return nil, []finding.Finding{finding.ErrorFinding(Name, IDPasswd, "The account database could not be read", err)}
	}
	pw, perrs := ParsePasswd(passwdFile, data)
	if f, ok := lineErrors(IDPasswd, "Malformed lines in "+passwdFile, perrs); ok {
		out = append(out, f)
	}
	shadow := map[string]ShadowEntry{}
	sdata, shadowErr := root.ReadFile(shadowFile)
	if shadowErr == nil {
		entries, serrs := ParseShadow(shadowFile, sdata)
		if f, ok := lineErrors(IDShadow, "Malformed lines in "+shadowFile, serrs); ok {
			out = append(out, f)
		}
		for _, e := range entries {
			if _, dup := shadow[e.Name]; !dup { // the first entry wins, as in nss_files
				shadow[e.Name] = e
			}
		}
	}
	var accts []Account
	seen := map[string]bool{}
	shadowedWithoutShadow := false
	for _, e := range pw {
		if seen[e.Name] {
			continue
		}
		seen[e.Name] = true
		a := Account{Name: e.Name, UID: e.UID, Password: e.Password, Source: passwdFile, Line: e.Line}
		if e.Password.State != Shadowed {
			a.InPasswd = true
		} else if shadowErr != nil {
			a.Password = Password{State: Unknown}
			shadowedWithoutShadow = true
		} else if s, ok := shadow[e.Name]; ok {
			a.Password, a.Source, a.Line = s.Password, shadowFile, s.Line
		} else {
			// pam_unix refuses an "x" account with no shadow entry.
			a.Password = Password{State: Disabled, Marker: "no shadow entry"}
		}
		accts = append(accts, a)
	}
	if shadowErr != nil && (shadowedWithoutShadow || !errors.Is(shadowErr, fs.ErrNotExist)) {
		f := finding.ErrorFinding(Name, IDShadow, "The shadow password file could not be read", shadowErr)
		if errors.Is(shadowErr, fs.ErrPermission) {
			f.Remediation = "Run nodeguard as root (or with CAP_DAC_READ_SEARCH) to read " + shadowFile + "."
		}
		out = append(out, f)
	}
	return accts, out
}

func lineErrors(id, title string, errs []*LineError) (finding.Finding, bool) {
	if len(errs) == 0 {
		return finding.Finding{}, false
	}
	msg := errs[0].Error()
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more malformed lines)", len(errs)-1)
	}
	f := finding.ErrorFinding(Name, id, title, errors.New(msg))
	e := catalog.Get(id)
	f.Severity, f.Remediation = e.Severity, e.Remediation
	f.Evidence = finding.EvidenceOf(map[string]string{"file": errs[0].File, "line": strconv.Itoa(errs[0].Line), "malformedLines": strconv.Itoa(len(errs))})
	return f, true
}

func accountEvidence(a *Account) finding.Evidence {
	ev := map[string]string{
		"user": a.Name, "uid": strconv.FormatUint(uint64(a.UID), 10),
		"passwordState": string(a.Password.State), "file": a.Source, "line": strconv.Itoa(a.Line),
	}
	if a.Password.Marker != "" {
		ev["lockMarker"] = a.Password.Marker
	}
	return finding.EvidenceOf(ev)
}

func judgeAccounts(pol *Policy, accts []Account) []finding.Finding {
	var out []finding.Finding
	root := slices.IndexFunc(accts, func(a Account) bool { return a.Name == "root" })
	if root < 0 {
		out = append(out, finding.ErrorFinding(Name, IDRootPassword, "No root account",
			fmt.Errorf("%s has no root entry", passwdFile)))
	} else {
		out = append(out, judgeRoot(pol, &accts[root]))
	}

	var uid0, empty, unshadowed []finding.Finding
	uid0E, emptyE, unshadowedE := catalog.Get(IDUID0), catalog.Get(IDEmptyPassword), catalog.Get(IDUnshadowed)
	for i := range accts {
		a := &accts[i]
		if a.UID == 0 && !slices.Contains(pol.UID0Allowed, a.Name) {
			uid0 = append(uid0, finding.Finding{
				ID: IDUID0, Probe: Name, Status: finding.Fail, Severity: pol.UID0Severity,
				Title:       "Account other than root with user id 0",
				Message:     fmt.Sprintf("%s has user id 0 and so every power of root (%s line %d)", a.Name, passwdFile, a.Line),
				Remediation: uid0E.Remedy(a.Name),
				References:  uid0E.Refs(),
				Evidence:    accountEvidence(a),
			})
		}
		if a.Password.State == Empty && a.Name != "root" {
			where := shadowFile
			if a.InPasswd {
				where = passwdFile
			}
			empty = append(empty, finding.Finding{
				ID: IDEmptyPassword, Probe: Name, Status: finding.Fail, Severity: pol.EmptyPasswordSeverity,
				Title:       "Account with an empty password",
				Message:     fmt.Sprintf("%s has an empty password field in %s: anyone can log in as it without a password", a.Name, where),
				Remediation: emptyE.Remedy(a.Name),
				References:  emptyE.Refs(),
				Evidence:    accountEvidence(a),
			})
		}
		if a.InPasswd && a.Password.State == Usable || a.InPasswd && a.Password.State == Locked && a.Password.Marker == "!hash" {
			unshadowed = append(unshadowed, finding.Finding{
				ID: IDUnshadowed, Probe: Name, Status: finding.Fail, Severity: pol.UnshadowedSeverity,
				Title:       "Password hash in /etc/passwd",
				Message:     fmt.Sprintf("%s keeps its password hash in the world-readable %s (line %d), where anyone can copy it and crack it offline", a.Name, passwdFile, a.Line),
				Remediation: unshadowedE.Remediation,
				References:  unshadowedE.Refs(),
				Evidence:    accountEvidence(a),
			})
		}
	}
	out = append(out, orPass(uid0, IDUID0, "Only root has user id 0", "no account other than "+strings.Join(pol.UID0Allowed, ", ")+" has user id 0")...)
	out = append(out, orPass(empty, IDEmptyPassword, "No account has an empty password", "every account has a password or is locked")...)
	out = append(out, orPass(unshadowed, IDUnshadowed, "Passwords are shadowed", "no password hash is kept in "+passwdFile)...)
	return out
}

func orPass(fails []finding.Finding, id, title, msg string) []finding.Finding {
	if len(fails) > 0 {
		return fails
	}
	return []finding.Finding{{
		ID: id, Probe: Name, Status: finding.Pass, Severity: finding.Info,
		Title: title, Message: msg, References: passRefs(catalog.Get(id)), Evidence: finding.Evidence{},
	}}
}

// passRefs cites only the check's own rule, its entry's first reference: the
// further ones say why a failure matters.
func passRefs(e catalog.Entry) []string { return e.Refs()[:1] }

func judgeRoot(pol *Policy, a *Account) finding.Finding {
	e := catalog.Get(IDRootPassword)
	f := finding.Finding{
		ID: IDRootPassword, Probe: Name,
		References: passRefs(e),
		Evidence:   accountEvidence(a),
	}
	switch a.Password.State {
	case Empty:
		f.Status, f.Severity = finding.Fail, pol.EmptyPasswordSeverity
		f.Title = "root has an empty password"
		f.Message = "root's password field is empty: anyone at a login prompt becomes root without a password"
		f.Remediation = e.Remediation
		f.References = e.Refs()
	case Usable:
		f.Status, f.Severity = finding.Fail, pol.RootPasswordSeverity
		f.Title = "root has a usable password"
		f.Message = fmt.Sprintf("root can log in with a password (%s line %d)", a.Source, a.Line)
		f.Remediation = strings.TrimSuffix(e.Remediation, ".") + "; administrators log in as themselves and use sudo."
	case Locked, Disabled:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "root's password is locked"
		f.Message = fmt.Sprintf("no password logs in as root (%s, marker %q)", a.Password.State, a.Password.Marker)
	default:
		return finding.ErrorFinding(Name, IDRootPassword, "root's password state is unknown",
			fmt.Errorf("root's password is in %s, which could not be read", shadowFile))
	}
	return f
}

func judgeSudoers(root *hostfs.Root, pol *Policy) []finding.Finding {
	sud, err := ReadSudoers(root, sudoersFile, hostname(root))
	if errors.Is(err, fs.ErrNotExist) {
		return []finding.Finding{{
			ID: IDSudoers, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title: "sudo is not configured", Message: sudoersFile + " does not exist",
			References: []string{}, Evidence: finding.Evidence{},
		}}
	}
	if err != nil {
		return []finding.Finding{finding.ErrorFinding(Name, IDSudoers, "sudoers could not be read", fmt.Errorf("sudoers: %w", err))}
	}
	var out []finding.Finding
	for _, e := range sud.Errors {
		f := finding.ErrorFinding(Name, IDSudoers, "sudoers could not be fully read", e)
		f.Remediation = "Check the sudoers files with visudo -c; sudo refuses to run while one of them has a syntax error."
		var le *LineError
		if errors.As(e, &le) {
			f.Evidence = finding.EvidenceOf(map[string]string{"file": le.File, "line": strconv.Itoa(le.Line)})
		}
		out = append(out, f)
	}
	var all, nopw []finding.Finding
	allE, nopwE := catalog.Get(IDSudoAll), catalog.Get(IDSudoNopasswd)
	for _, g := range sud.Grants() {
		ev := map[string]string{
			"file": g.File, "line": strconv.Itoa(g.Line),
			"users": strings.Join(g.Users, ", "), "commands": clip(strings.Join(g.Commands, ", "), 256),
		}
		if !slices.Equal(g.Members, g.Users) {
			ev["members"] = strings.Join(g.Members, ", ")
		}
		if g.Runas != "" {
			ev["runas"] = g.Runas
		}
		who := strings.Join(g.Users, ", ")
		if g.All && !allowed(pol.Sudo.AllAllowed, g) {
			all = append(all, finding.Finding{
				ID: IDSudoAll, Probe: Name, Status: finding.Fail, Severity: pol.Sudo.AllSeverity,
				Title:       "sudo grants ALL commands",
				Message:     fmt.Sprintf("%s may run any command through sudo (%s line %d)", who, g.File, g.Line),
				Remediation: allE.Remediation,
				References:  allE.Refs(),
				Evidence:    finding.EvidenceOf(ev),
			})
		}
		if g.Nopasswd && !allowed(pol.Sudo.NopasswdAllowed, g) {
			f := finding.Finding{
				ID: IDSudoNopasswd, Probe: Name, Status: finding.Fail, Severity: pol.Sudo.NopasswdSeverity,
				Title:       "sudo runs commands without a password",
				Message:     fmt.Sprintf("%s may run %s through sudo without a password (%s line %d)", who, clip(strings.Join(g.Commands, ", "), 120), g.File, g.Line),
				Remediation: nopwE.Remediation,
				References:  nopwE.Refs(),
				Evidence:    finding.EvidenceOf(ev),
			}
			if g.NopasswdAll {
				f.Severity = pol.Sudo.NopasswdAllSeverity
				f.Message = fmt.Sprintf("%s may run any command as root through sudo without a password (%s line %d)", who, g.File, g.Line)
			}
			nopw = append(nopw, f)
		}
	}
	files := strings.Join(sud.Files, ", ")
	out = append(out, orPass(all, IDSudoAll, "No unexpected sudo ALL grant", "only "+strings.Join(pol.Sudo.AllAllowed, ", ")+" may run any command (read "+files+")")...)
	out = append(out, orPass(nopw, IDSudoNopasswd, "No unexpected NOPASSWD grant", "sudo asks for a password for every grant (read "+files+")")...)
	return out
}

// allowed: the grant's principals are all allowed, as written or expanded.
func allowed(list []string, g Grant) bool {
	ok := func(names []string) bool {
		for _, n := range names {
			if !slices.Contains(list, n) {
				return false
			}
		}
		return len(names) > 0
	}
	return ok(g.Users) || ok(g.Members)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// hostname is the short host name for sudo's "%h" in include paths.
func hostname(root *hostfs.Root) string {
	for _, f := range []string{"/etc/hostname", "/proc/sys/kernel/hostname"} {
		if b, err := root.ReadFileLimit(f, 256); err == nil {
			h, _, _ := strings.Cut(strings.TrimSpace(string(b)), ".")
			if h != "" {
				return h
			}
		}
	}
	return ""
}
