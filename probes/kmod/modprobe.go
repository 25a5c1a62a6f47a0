package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// ConfigDirs are the directories kmod reads modprobe configuration from,
// most important first: a file in an earlier directory hides a file of the
// same name in a later one (so /etc overrides the distribution's defaults).
// kmod builds differ on whether they read /usr/lib or /lib; reading both
// matches either on merged-/usr hosts and is harmless elsewhere.
var ConfigDirs = []string{
	"/etc/modprobe.d",
	"/run/modprobe.d",
	"/usr/local/lib/modprobe.d",
	"/usr/lib/modprobe.d",
	"/lib/modprobe.d",
}

// Directive is one modprobe.d line that matters here.
type Directive struct {
	Cmd    string // blacklist or install
	Module string // with "-" turned into "_"; a pattern for install
	Arg    string // the install command
	File   string
	Line   int
}

// BadLine is a line kmod ignores with "Ignoring bad line".
type BadLine struct {
	File string
	Line int
	Msg  string
}

func (e *BadLine) Error() string { return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg) }

// knownCmds are modprobe.d commands kmod accepts; only blacklist and
// install decide whether a module can be loaded.
var knownCmds = map[string]bool{
	"alias": true, "blacklist": true, "options": true, "install": true,
	"remove": true, "softdep": true, "weakdep": true,
}

// ParseModprobe parses one modprobe.d file as kmod's kmod_config_parse
// does: "\" continues a line, "#" starts a comment only in the first
// column, fields are separated by blanks, and module names are normalised
// with "-" read as "_" (outside "[...]" character classes).
func ParseModprobe(file string, data []byte) ([]Directive, []*BadLine) {
	var out []Directive
	var bad []*BadLine
	lines := bytes.Split(data, []byte{'\n'})
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := string(lines[i])
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + string(lines[i])
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.IndexByte(line, 0) >= 0 {
			bad = append(bad, &BadLine{file, n, "binary data (NUL byte)"})
			continue
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 {
			continue
		}
		cmd := fields[0]
		switch {
		case cmd == "blacklist" && len(fields) >= 2:
			out = append(out, Directive{Cmd: cmd, Module: underscores(fields[1]), File: file, Line: n})
		case cmd == "install" && len(fields) >= 3:
			// The command is the rest of the line, blanks included.
			rest := strings.TrimLeft(line, " \t")[len(cmd):]
			rest = strings.TrimLeft(rest, " \t")[len(fields[1]):]
			out = append(out, Directive{Cmd: cmd, Module: underscores(fields[1]), Arg: strings.Trim(rest, " \t"), File: file, Line: n})
		case cmd == "install" || cmd == "blacklist":
			bad = append(bad, &BadLine{file, n, fmt.Sprintf("kmod ignores this line (%.40q): %s needs more arguments", line, cmd)})
		case cmd == "include" || cmd == "config":
			bad = append(bad, &BadLine{file, n, cmd + " is deprecated and not read by kmod"})
		case knownCmds[cmd] && len(fields) >= 2:
		default:
			bad = append(bad, &BadLine{file, n, fmt.Sprintf("kmod ignores this line (%.40q)", line)})
		}
	}
	return out, bad
}

// underscores is kmod's underscores(): "-" becomes "_" except inside
// brackets, where it is a range.
func underscores(s string) string {
	b := []byte(s)
	in := false
	for i, c := range b {
		switch c {
		case '[':
			in = true
		case ']':
			in = false
		case '-':
			if !in {
				b[i] = '_'
			}
		}
	}
	return string(b)
}

// Config is the effective modprobe configuration.
type Config struct {
	Files      []string
	Directives []Directive
	Errors     []error
}

// ReadConfig reads every *.conf of ConfigDirs in kmod's order: files sorted
// by name, a name taken from the first directory that has it.
func ReadConfig(root *hostfs.Root) *Config {
	c := &Config{}
	chosen := map[string]string{}
	for _, dir := range ConfigDirs {
		names, err := root.ReadDirNames(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				c.Errors = append(c.Errors, err)
			}
			continue
		}
		for _, n := range names {
			if !strings.HasSuffix(n, ".conf") || strings.HasPrefix(n, ".") {
				continue
			}
			if _, seen := chosen[n]; !seen {
				chosen[n] = path.Join(dir, n)
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := chosen[n]
		data, err := root.ReadFile(f)
		if err != nil {
			// kmod skips a directory entry that is not a regular file.
			var pe *fs.PathError
			if st, serr := root.Stat(f); serr == nil && st.IsDir() || errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a regular file") {
				continue
			}
			c.Errors = append(c.Errors, err)
			continue
		}
		c.Files = append(c.Files, f)
		ds, bad := ParseModprobe(f, data)
		c.Directives = append(c.Directives, ds...)
		for _, b := range bad {
			c.Errors = append(c.Errors, b)
		}
	}
	return c
}

// Disablement is how the configuration treats one module.
type Disablement struct {
	Blacklist *Directive // a blacklist line (stops loading by alias only)
	Install   *Directive // the install command modprobe runs instead, if any
}

// Disabled: modprobe runs /bin/true or /bin/false instead of loading.
func (d Disablement) Disabled() bool {
	if d.Install == nil {
		return false
	}
	cmd := strings.Fields(d.Install.Arg)
	if len(cmd) == 0 {
		return false
	}
	switch cmd[0] {
	case "/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true", "false", "true":
		return true
	}
	return false
}

// For returns how the configuration treats module (normalised). Like
// kmod, the first install line whose pattern matches wins.
func (c *Config) For(module string) Disablement {
	var d Disablement
	for i := range c.Directives {
		dir := &c.Directives[i]
		switch dir.Cmd {
		case "blacklist":
			if d.Blacklist == nil && dir.Module == module {
				d.Blacklist = dir
			}
		case "install":
			if d.Install == nil {
				if ok, _ := path.Match(dir.Module, module); ok {
					d.Install = dir
				}
			}
		}
	}
	return d
}
