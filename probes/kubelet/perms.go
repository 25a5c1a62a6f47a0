package kubelet

import (
	"fmt"
	"io/fs"
	"strconv"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// FileCheck describes the CIS permission and ownership checks of one file.
type FileCheck struct {
	Probe, ID string
	What      string      // "kubelet config file"
	Path      string      // host path
	MaxMode   fs.FileMode // e.g. 0o600
	ModeRef   string      // "CIS Kubernetes 4.1.9"
	OwnerRef  string      // "CIS Kubernetes 4.1.10"
	Severity  finding.Severity
	// Optional files that do not exist are skipped; required ones are errors.
	Optional bool
}

// CheckFile stats the file (following symlinks inside the root, since the
// component reads the target) and returns its permission and ownership
// findings. Both ids get a "-permissions" / "-ownership" suffix.
func CheckFile(root *hostfs.Root, c FileCheck) []finding.Finding {
	permID, ownID := c.ID+"-permissions", c.ID+"-ownership"
	st, err := root.Stat(c.Path)
	if err != nil {
		if c.Optional && isNotExist(err) {
			return []finding.Finding{
				skip(c.Probe, permID, c.What+" not present", fmt.Sprintf("%s does not exist on this host", c.Path), c.ModeRef),
				skip(c.Probe, ownID, c.What+" not present", fmt.Sprintf("%s does not exist on this host", c.Path), c.OwnerRef),
			}
		}
		f := finding.ErrorFinding(c.Probe, permID, c.What+" could not be checked", fmt.Errorf("%s: %w", c.What, err))
		f.References = []string{c.ModeRef, c.OwnerRef}
		f.Evidence = map[string]string{"file": c.Path}
		return []finding.Finding{f}
	}
	mode := st.Mode().Perm()
	uid, gid, _ := hostfs.Owner(st)
	ev := func() map[string]string {
		return map[string]string{"file": c.Path, "mode": fmt.Sprintf("%04o", mode),
			"uid": strconv.Itoa(int(uid)), "gid": strconv.Itoa(int(gid))}
	}
	perm := finding.Finding{ID: permID, Probe: c.Probe, Severity: c.Severity, References: []string{c.ModeRef}, Evidence: ev()}
	perm.Evidence["maxMode"] = fmt.Sprintf("%04o", c.MaxMode)
	if mode&^c.MaxMode == 0 {
		perm.Status, perm.Title = finding.Pass, c.What+" permissions are restrictive"
		perm.Message = fmt.Sprintf("%s has mode %04o (at most %04o)", c.Path, mode, c.MaxMode)
	} else {
		perm.Status, perm.Title = finding.Fail, c.What+" permissions are too open"
		perm.Message = fmt.Sprintf("%s has mode %04o; it must be %04o or more restrictive", c.Path, mode, c.MaxMode)
		perm.Remediation = fmt.Sprintf("chmod %o %s", c.MaxMode, c.Path)
	}
	own := finding.Finding{ID: ownID, Probe: c.Probe, Severity: c.Severity, References: []string{c.OwnerRef}, Evidence: ev()}
	if uid == 0 && gid == 0 {
		own.Status, own.Title = finding.Pass, c.What+" is owned by root:root"
		own.Message = c.Path + " is owned by root:root"
	} else {
		own.Status, own.Title = finding.Fail, c.What+" is not owned by root:root"
		own.Message = fmt.Sprintf("%s is owned by %d:%d, not root:root", c.Path, uid, gid)
		own.Remediation = "chown root:root " + c.Path
	}
	return []finding.Finding{perm, own}
}

func skip(probe, id, title, msg, ref string) finding.Finding {
	return finding.Finding{ID: id, Probe: probe, Status: finding.Skip, Severity: finding.Info,
		Title: title, Message: msg, References: []string{ref}, Evidence: map[string]string{}}
}
