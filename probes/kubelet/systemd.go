package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// unitDirs is systemd's system unit search path, highest priority first
// (systemd.unit(5)); the transient and generator directories are left out
// because nothing installs the kubelet there.
var unitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// unitOption is one Key=Value of a unit file, in file order.
type unitOption struct {
	Section, Key, Value string
	File                string
}

// parseUnit reads systemd's unit-file syntax: [Section] headers, Key=Value,
// '#'/';' comment lines, and backslash-newline continuations that join with a
// space (comment lines inside a continuation are skipped, as systemd does).
func parseUnit(data []byte, file string) ([]unitOption, error) {
	var out []unitOption
	section := ""
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		start := i + 1
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if next != "" && (next[0] == '#' || next[0] == ';') {
				line = line[:len(line)-1] + "\\"
				continue
			}
			line = line[:len(line)-1] + " " + next
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", file, start, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not a Key=Value line: %q", file, start, line)
		}
		out = append(out, unitOption{Section: section, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), File: file})
	}
	return out, nil
}

// serviceUnit is the kubelet's systemd service with its drop-ins applied.
type serviceUnit struct {
	Name     string
	Files    []string // the unit file, then its drop-ins in the order systemd applies them
	Masked   bool
	ExecArgs []string // ExecStart after environment expansion, prefixes removed
	EnvFiles []string // EnvironmentFile= paths that were read
	Problems []error  // settings systemd would reject or ignore
}

// findUnit locates name (e.g. "kubelet.service") and its drop-ins. It returns
// nil, nil when no unit file exists.
func findUnit(root *hostfs.Root, name string) (*serviceUnit, error) {
	u := &serviceUnit{Name: name}
	main := ""
	for _, d := range unitDirs {
		p := path.Join(d, name)
		fi, err := root.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if t, err := root.Readlink(p); err == nil && t == "/dev/null" {
				u.Masked, u.Files = true, []string{p}
				return u, nil
			}
		}
		main = p
		break
	}
	// Drop-ins with the same file name override each other by directory
	// priority; the survivors are applied in file-name order.
	dropins := map[string]string{}
	for i := len(unitDirs) - 1; i >= 0; i-- {
		names, err := root.ReadDirNames(path.Join(unitDirs[i], name+".d"))
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".conf") {
				dropins[n] = path.Join(unitDirs[i], name+".d", n)
			}
		}
	}
	if main == "" && len(dropins) == 0 {
		return nil, nil
	}
	if main != "" {
		u.Files = append(u.Files, main)
	}
	names := make([]string, 0, len(dropins))
	for n := range dropins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u.Files = append(u.Files, dropins[n])
	}
	return u, u.resolve(root)
}

// resolve applies the [Service] settings of every file and computes ExecArgs.
func (u *serviceUnit) resolve(root *hostfs.Root) error {
	var exec []unitOption
	env := map[string]string{}
	var envFiles []unitOption
	for _, f := range u.Files {
		data, err := root.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading systemd unit %s: %w", f, err)
		}
		opts, err := parseUnit(data, f)
		if err != nil {
			return fmt.Errorf("systemd unit %w", err)
		}
		for _, o := range opts {
			if o.Section != "Service" {
				continue
			}
			switch o.Key {
			case "ExecStart":
				if o.Value == "" {
					exec = nil // an empty assignment resets the list
				} else {
					exec = append(exec, o)
				}
			case "Environment":
				words, err := SplitSystemdWords(o.Value)
				if err != nil {
					u.Problems = append(u.Problems, fmt.Errorf("%s: Environment= ignored by systemd: %w", o.File, err))
					continue
				}
				for _, w := range words {
					k, v, ok := strings.Cut(w, "=")
					if !ok || !validEnvName(k) {
						u.Problems = append(u.Problems, fmt.Errorf("%s: Environment= assignment %q ignored by systemd", o.File, w))
						continue
					}
					env[k] = v
				}
			case "EnvironmentFile":
				if o.Value == "" {
					envFiles = nil
				} else {
					envFiles = append(envFiles, o)
				}
			}
		}
	}
	// EnvironmentFile= settings override Environment=, in the order listed.
	for _, o := range envFiles {
		p, optional := strings.CutPrefix(o.Value, "-")
		data, err := root.ReadFile(p)
		if err != nil {
			if optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("EnvironmentFile %s (from %s): %w", p, o.File, err)
		}
		vars, err := ParseEnvironmentFile(data)
		if err != nil {
			return fmt.Errorf("EnvironmentFile %s (from %s): %w", p, o.File, err)
		}
		u.EnvFiles = append(u.EnvFiles, p)
		for k, v := range vars {
			env[k] = v
		}
	}
	if u.Masked {
		return nil
	}
	switch len(exec) {
	case 0:
		return fmt.Errorf("systemd unit %s has no ExecStart= in [Service]", strings.Join(u.Files, ", "))
	case 1:
	default:
		// Type=simple allows a single ExecStart; systemd refuses to start the unit.
		return fmt.Errorf("systemd unit %s: %d ExecStart= lines without an empty ExecStart= to reset them (last in %s)",
			strings.Join(u.Files, ", "), len(exec), exec[len(exec)-1].File)
	}
	words, err := SplitSystemdWords(exec[0].Value)
	if err != nil {
		return fmt.Errorf("%s: ExecStart=: %w", exec[0].File, err)
	}
	if len(words) == 0 {
		return fmt.Errorf("%s: ExecStart= has no command", exec[0].File)
	}
	noExpand, ownArgv0 := false, false
	cmd := words[0]
	for len(cmd) > 0 && strings.ContainsRune("-@:+!|", rune(cmd[0])) {
		noExpand = noExpand || cmd[0] == ':'
		ownArgv0 = ownArgv0 || cmd[0] == '@'
		cmd = cmd[1:]
	}
	words[0] = cmd
	if ownArgv0 && len(words) > 1 {
		// "@" passes the second word as argv[0]; the flags start after it.
		words = append(words[:1], words[2:]...)
	}
	if noExpand {
		u.ExecArgs = words
	} else {
		u.ExecArgs = ExpandExecArgs(words, env)
	}
	return nil
}
