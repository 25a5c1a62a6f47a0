package kubelet

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// FileCheck describes the CIS permission and ownership checks of one file.
type FileCheck struct {
	ID      string      // the catalogue's ids without -permissions / -ownership
	What    string      // "kubelet config file"
	Path    string      // host path
	MaxMode fs.FileMode // e.g. 0o600
	// ModeRef and OwnerRef are set only where the reference depends on the
	// file (the catalogue lists each one); otherwise the entries' are used.
	ModeRef, OwnerRef string
	// Optional files that do not exist are skipped; required ones are errors.
	Optional bool
	// Access says whether the directories on the file's path count.
	Access Access
}

// Access is how CheckFile judges a file's permissions.
type Access int

const (
	// OwnMode judges the file's own mode, as the CIS audit's `stat -c %a`.
	OwnMode Access = iota
	// OwnModeShowEffective judges the own mode and shows the effective one.
	OwnModeShowEffective
	// EffectiveMode judges what the directories on the file's real path
	// leave of its mode (see effectiveMode): a 0644 file in a 0700
	// directory is effectively 0600.
	EffectiveMode
)

// CheckFile stats the file (following symlinks inside the root, since the
// component reads the target) and returns its permission and ownership
// findings. Both ids get a "-permissions" / "-ownership" suffix; severity,
// references and remediation come from their catalogue entries (see
// FileEntries).
func CheckFile(root *hostfs.Root, c FileCheck) []finding.Finding {
	permE, ownE := catalog.Get(c.ID+"-permissions"), catalog.Get(c.ID+"-ownership")
	modeRefs, ownRefs := permE.Refs(), ownE.Refs()
	if c.ModeRef != "" {
		modeRefs = []string{c.ModeRef}
	}
	if c.OwnerRef != "" {
		ownRefs = []string{c.OwnerRef}
	}
	st, err := root.Stat(c.Path)
	if err != nil {
		if c.Optional && isNotExist(err) {
			msg := fmt.Sprintf("%s does not exist on this host", c.Path)
			perm, own := skip(permE, c.What+" not present", msg), skip(ownE, c.What+" not present", msg)
			perm.References, own.References = modeRefs, ownRefs
			return []finding.Finding{perm, own}
		}
		f := finding.ErrorFinding(permE.Probe, permE.ID, c.What+" could not be checked", fmt.Errorf("%s: %w", c.What, err))
		f.References = append(modeRefs, ownRefs...)
		f.Evidence = finding.EvidenceOf(map[string]string{"file": c.Path})
		return []finding.Finding{f}
	}
	mode := st.Mode().Perm()
	uid, gid, _ := hostfs.Owner(st)
	ev := func() finding.Evidence {
		return finding.EvidenceOf(map[string]string{"file": c.Path, "mode": fmt.Sprintf("%04o", mode),
			"uid": strconv.Itoa(int(uid)), "gid": strconv.Itoa(int(gid))})
	}
	perm := finding.Finding{ID: permE.ID, Probe: permE.Probe, Severity: permE.Severity, References: modeRefs, Evidence: ev()}
	perm.Evidence.Set("maxMode", fmt.Sprintf("%04o", c.MaxMode))
	judged, modeText, note := mode, fmt.Sprintf("%04o", mode), ""
	if c.Access != OwnMode {
		eff, err := effectiveMode(root, c.Path, st)
		switch {
		case err != nil:
			perm.Evidence.Set("effectiveModeError", err.Error())
		case eff.Links > 1:
			perm.Evidence.Set("links", strconv.FormatUint(eff.Links, 10))
		}
		perm.Evidence.Set("effectiveMode", fmt.Sprintf("%04o", eff.Mode))
		if eff.Mode != mode {
			by := make([]string, len(eff.By))
			for i, d := range eff.By {
				by[i] = d.String()
			}
			perm.Evidence.Set("restrictedBy", strings.Join(by, ", "))
			if c.Access == EffectiveMode {
				judged = eff.Mode
				modeText = fmt.Sprintf("%04o, effectively %04o: %s", mode, eff.Mode, perm.Evidence.Get("restrictedBy"))
			} else {
				note = fmt.Sprintf(" (effectively %04o: %s; the file's own mode is judged)", eff.Mode, perm.Evidence.Get("restrictedBy"))
			}
		}
	}
	if judged&^c.MaxMode == 0 {
		perm.Status, perm.Title = finding.Pass, c.What+" permissions are restrictive"
		perm.Message = fmt.Sprintf("%s has mode %s (at most %04o)%s", c.Path, modeText, c.MaxMode, note)
	} else {
		perm.Status, perm.Title = finding.Fail, c.What+" permissions are too open"
		perm.Message = fmt.Sprintf("%s has mode %s; it must be %04o or more restrictive%s", c.Path, modeText, c.MaxMode, note)
		perm.Remediation = fmt.Sprintf(permE.Remediation, c.MaxMode, c.Path)
	}
	own := finding.Finding{ID: ownE.ID, Probe: permE.Probe, Severity: ownE.Severity, References: ownRefs, Evidence: ev()}
	if uid == 0 && gid == 0 {
		own.Status, own.Title = finding.Pass, c.What+" is owned by root:root"
		own.Message = c.Path + " is owned by root:root"
	} else {
		own.Status, own.Title = finding.Fail, c.What+" is not owned by root:root"
		own.Message = fmt.Sprintf("%s is owned by %d:%d, not root:root", c.Path, uid, gid)
		own.Remediation = fmt.Sprintf(ownE.Remediation, c.Path)
	}
	return []finding.Finding{perm, own}
}

// skip says a check does not apply, with the references of its entry.
func skip(e catalog.Entry, title, msg string) finding.Finding {
	f := e.Finding(finding.Skip, msg)
	f.Severity, f.Title, f.Remediation = finding.Info, title, ""
	return f
}
