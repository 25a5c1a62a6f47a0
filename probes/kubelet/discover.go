package kubelet

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// ErrNotFound means the host has no kubelet: no process and no unit.
var ErrNotFound = errors.New("no kubelet process and no kubelet.service unit under the host root")

// kubeletProcess is a running kubelet.
type kubeletProcess struct {
	PID  int
	Args []string // argv, argv[0] included
	Cwd  string
}

// findProcess returns the running kubelet with the lowest pid, if any.
func findProcess(root *hostfs.Root) (*kubeletProcess, error) {
	names, err := root.ReadDirNames("/proc")
	if err != nil {
		return nil, nil // no /proc under the root: judge the unit instead
	}
	best := -1
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || (best >= 0 && pid >= best) {
			continue
		}
		comm, err := root.ReadFileLimit("/proc/"+n+"/comm", 64)
		if err != nil || string(bytes.TrimSpace(comm)) != "kubelet" {
			continue
		}
		best = pid
	}
	if best < 0 {
		return nil, nil
	}
	dir := "/proc/" + strconv.Itoa(best)
	data, err := root.ReadFileLimit(dir+"/cmdline", 1<<20)
	if err != nil {
		return nil, fmt.Errorf("kubelet process %d: %w", best, err)
	}
	args := ParseProcCmdline(data)
	if len(args) == 0 {
		return nil, fmt.Errorf("kubelet process %d: %s/cmdline is empty (a zombie or kernel thread)", best, dir)
	}
	p := &kubeletProcess{PID: best, Args: args, Cwd: "/"}
	if d, err := root.OpenDir(dir); err == nil {
		// cwd is a magic link: read its target, never follow it.
		if t, err := d.Readlink("cwd"); err == nil && path.IsAbs(t) {
			p.Cwd = t
		}
		d.Close()
	}
	return p, nil
}

// Find locates the kubelet and computes its effective configuration: the
// running process when there is one, else the systemd unit it would start
// from. The returned Effective is non-nil whenever the kubelet was found,
// even if resolving its configuration failed. version is the kubelet's
// version when known (from says how: the Node's status); the executable's
// version is read otherwise.
func Find(root *hostfs.Root, version, from string) (*Effective, *serviceUnit, error) {
	unit, unitErr := findUnit(root, "kubelet.service")
	proc, err := findProcess(root)
	if err != nil {
		return nil, unit, err
	}
	if proc != nil {
		v := version
		if v == "" {
			v, from = executableVersion(root, proc, unit)
		}
		e, err := ResolveVersion(root, proc.Args[1:], proc.Cwd, v, from)
		e.Found, e.PID = fmt.Sprintf("process %d (%s)", proc.PID, proc.Args[0]), proc.PID
		if unit != nil {
			e.UnitFiles, e.EnvFiles = unit.Files, unit.EnvFiles
		}
		return e, unit, err
	}
	if unitErr != nil {
		return &Effective{Found: "systemd unit kubelet.service"}, unit, unitErr
	}
	if unit == nil {
		return nil, nil, ErrNotFound
	}
	if unit.Masked {
		return nil, unit, fmt.Errorf("the kubelet is not running and its unit %s is masked", unit.Files[0])
	}
	v := version
	if v == "" {
		v, from = executableVersion(root, nil, unit)
	}
	e, err := ResolveVersion(root, unit.ExecArgs[1:], "/", v, from)
	e.Found = "systemd unit " + unit.Files[0] + " (kubelet not running)"
	e.UnitFiles, e.EnvFiles = unit.Files, unit.EnvFiles
	return e, unit, err
}

// executableVersion reads the version of the kubelet executable: the
// running process's, else the one the unit starts.
func executableVersion(root *hostfs.Root, proc *kubeletProcess, unit *serviceUnit) (version, from string) {
	if proc != nil {
		version, from = procVersion(root, proc.PID)
	}
	if version == "" && unit != nil && !unit.Masked && len(unit.ExecArgs) > 0 {
		version, from = unitVersion(root, unit.ExecArgs[0])
	}
	return version, from
}

// Version is the kubelet's version without its configuration: version and
// from when the caller knows them (the Node's status), else what the
// executable of the running kubelet, or of its unit, embeds; "" when it
// cannot be read. err is ErrNotFound when the host has no kubelet.
func Version(root *hostfs.Root, version, from string) (string, string, error) {
	if version != "" {
		return version, from, nil
	}
	unit, unitErr := findUnit(root, "kubelet.service")
	proc, err := findProcess(root)
	switch {
	case err != nil:
		return "", "", err
	case proc == nil && unit == nil && unitErr != nil:
		return "", "", unitErr
	case proc == nil && unit == nil:
		return "", "", ErrNotFound
	}
	v, from := executableVersion(root, proc, unit)
	return v, from, nil
}

// procVersion reads the running kubelet's executable (/proc/PID/exe names
// it; the link is read, never followed, and its target read under the root).
func procVersion(root *hostfs.Root, pid int) (version, from string) {
	t, err := root.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !path.IsAbs(t) {
		return "", ""
	}
	t = strings.TrimSuffix(t, " (deleted)")
	if v, err := ExecutableVersion(root, t); err == nil {
		return v, "executable " + t
	}
	return "", ""
}

// unitVersion reads the executable the unit's ExecStart names.
func unitVersion(root *hostfs.Root, exe string) (version, from string) {
	if !path.IsAbs(exe) {
		return "", ""
	}
	if v, err := ExecutableVersion(root, exe); err == nil {
		return v, "executable " + exe
	}
	return "", ""
}
