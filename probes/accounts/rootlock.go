package accounts

import (
	"fmt"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// sshdView is what the root-lock verdict needs from sshd's effective
// configuration for a root connection.
type sshdView struct {
	Config          string // the sshd_config read
	UsePAM          string // "yes" / "no"
	PermitRootLogin string // yes, prohibit-password, without-password, forced-commands-only, no
}

// rootLockVerdict judges whether root's locked password keeps key-based
// root logins out. OpenSSH's allowed_user() (auth.c) refuses an account
// whose password starts with "!" (Linux's LOCKED_PASSWD_PREFIX) only when
// UsePAM is no; with UsePAM yes the check is left to PAM's account stack,
// which pam_unix passes for a key login. A "*" password is never treated as
// locked.
func rootLockVerdict(pol *Policy, root *Account, v sshdView) finding.Finding {
	e := catalog.Get(IDRootLockSSH)
	f := finding.Finding{
		ID: IDRootLockSSH, Probe: Name,
		References: e.Refs(),
		Evidence: finding.EvidenceOf(map[string]string{
			"sshdConfig": v.Config, "usePAM": v.UsePAM, "permitRootLogin": v.PermitRootLogin,
			"passwordState": string(root.Password.State),
		}),
	}
	if root.Password.Marker != "" {
		f.Evidence.Set("lockMarker", root.Password.Marker)
	}
	if root.Password.State != Locked && root.Password.State != Disabled {
		f.Status, f.Severity = finding.Skip, finding.Info
		f.Title = "root's password is not locked"
		f.Message = fmt.Sprintf("root's password is %s, so there is no lock for sshd to honour (see %s)", root.Password.State, IDRootPassword)
		return f
	}
	if strings.EqualFold(v.PermitRootLogin, "no") {
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "sshd refuses root logins"
		f.Message = "PermitRootLogin is no, so root cannot log in over SSH whatever its password state"
		return f
	}
	sshdHonoursLock := root.Password.State == Locked && strings.EqualFold(v.UsePAM, "no")
	if sshdHonoursLock {
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "sshd honours root's locked password"
		f.Message = "UsePAM is no and root's password starts with \"!\", so sshd refuses every root login, key-based ones included"
		return f
	}
	f.Status, f.Severity = finding.Fail, pol.LockIgnoredSeverity
	f.Title = "root's locked password does not stop key-based SSH login"
	if root.Password.State == Disabled {
		f.Message = fmt.Sprintf("root's password is disabled (%q), which sshd never treats as locked: with PermitRootLogin %s a key in root's authorized_keys still logs in", root.Password.Marker, v.PermitRootLogin)
	} else {
		f.Message = fmt.Sprintf("root's password is locked, but with UsePAM yes sshd leaves the lock to PAM, which allows key logins: with PermitRootLogin %s a key in root's authorized_keys still logs in", v.PermitRootLogin)
	}
	f.Remediation = e.Remediation
	return f
}
