package accounts

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// maxIncludeDepth is sudo's own limit on nested includes.
const maxIncludeDepth = 128

// maxFiles bounds the reads: files that include each other's directory can
// otherwise make every permutation a distinct include chain.
const maxFiles = 512

// Sudoers is the whole policy sudo reads: the main file and every file it
// includes, in the order sudo reads them.
type Sudoers struct {
	Files  []string
	Specs  []LocatedSpec
	Errors []error
	// aliases by kind, then name
	aliases map[string]map[string][]string
	reads   int
}

// LocatedSpec is a user specification with the file it came from.
type LocatedSpec struct {
	File string
	UserSpec
}

// ReadSudoers reads main (normally /etc/sudoers) and its includes through
// root. A missing main file returns nil: sudo is not installed.
func ReadSudoers(root *hostfs.Root, main, hostname string) (*Sudoers, error) {
	s := &Sudoers{aliases: map[string]map[string][]string{}}
	if err := s.read(root, main, hostname, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sudoers) read(root *hostfs.Root, file, hostname string, stack []string) error {
	s.reads++
	if s.reads == maxFiles+1 {
		s.Errors = append(s.Errors, fmt.Errorf("sudoers: more than %d included files (include cycle through %s?); the rest were not read", maxFiles, file))
	}
	if s.reads > maxFiles {
		return nil
	}
	data, err := root.ReadFile(file)
	if err != nil {
		if len(stack) == 0 && errors.Is(err, fs.ErrNotExist) {
			return err
		}
		s.Errors = append(s.Errors, fmt.Errorf("sudoers: %w", err))
		return nil
	}
	s.Files = append(s.Files, file)
	sf := ParseSudoers(file, data)
	if len(sf.Errors) > 0 {
		// sudo stops at the first error; say how many more there are.
		e := sf.Errors[0]
		if len(sf.Errors) > 1 {
			e = &LineError{e.File, e.Line, fmt.Sprintf("%s (and %d more malformed lines)", e.Msg, len(sf.Errors)-1)}
		}
		s.Errors = append(s.Errors, e)
	}
	for _, a := range sf.Aliases {
		if s.aliases[a.Kind] == nil {
			s.aliases[a.Kind] = map[string][]string{}
		}
		s.aliases[a.Kind][a.Name] = a.Members
	}
	for _, sp := range sf.Specs {
		s.Specs = append(s.Specs, LocatedSpec{File: file, UserSpec: sp})
	}
	stack = append(stack, file)
	for _, inc := range sf.Includes {
		p := expandInclude(inc.Path, hostname)
		if !path.IsAbs(p) {
			// Since sudo 1.9.1 a relative path is relative to the including file.
			p = path.Join(path.Dir(file), p)
		}
		p = path.Clean(p)
		if len(stack) >= maxIncludeDepth {
			s.Errors = append(s.Errors, &LineError{file, inc.Line, fmt.Sprintf("too many levels of includes (%d) at %s", maxIncludeDepth, p)})
			continue
		}
		if !inc.Dir {
			if loop(stack, p) {
				s.Errors = append(s.Errors, &LineError{file, inc.Line, "include loop: " + p + " includes itself"})
				continue
			}
			s.read(root, p, hostname, stack)
			continue
		}
		names, err := root.ReadDirNames(p)
		if err != nil {
			// sudo silently ignores a missing include directory.
			if !errors.Is(err, fs.ErrNotExist) {
				s.Errors = append(s.Errors, fmt.Errorf("sudoers: %s line %d: %w", file, inc.Line, err))
			}
			continue
		}
		for _, n := range names {
			// sudo skips editor backups and package-manager leftovers
			// (foo~, foo.dpkg-old, foo.rpmnew): any name with "~" at the
			// end or a "." anywhere.
			if strings.HasSuffix(n, "~") || strings.Contains(n, ".") {
				continue
			}
			fp := path.Join(p, n)
			if st, err := root.Stat(fp); err == nil && !st.Mode().IsRegular() {
				continue
			}
			if loop(stack, fp) {
				s.Errors = append(s.Errors, &LineError{file, inc.Line, "include loop: " + fp + " includes itself"})
				continue
			}
			s.read(root, fp, hostname, stack)
		}
	}
	return nil
}

func loop(stack []string, p string) bool {
	for _, f := range stack {
		if f == p {
			return true
		}
	}
	return false
}

// expandInclude replaces sudo's "%h" (the short host name) and "%%".
func expandInclude(p, hostname string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+1 < len(p) {
			switch p[i+1] {
			case 'h':
				b.WriteString(hostname)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Grant is a user specification judged: who may run what, and how.
type Grant struct {
	File  string
	Line  int
	Users []string // as written
	// Members are Users with User_Alias names expanded.
	Members []string
	// All: some host may run any command (ALL, or a Cmnd_Alias of ALL).
	All bool
	// Nopasswd: some command runs without a password; NopasswdAll: ALL does.
	Nopasswd, NopasswdAll bool
	Runas                 string
	Commands              []string
}

// Grants judges every user specification.
func (s *Sudoers) Grants() []Grant {
	var out []Grant
	for _, sp := range s.Specs {
		g := Grant{File: sp.File, Line: sp.Line, Users: sp.Users}
		g.Members = s.expand("User_Alias", sp.Users, map[string]bool{})
		for _, pr := range sp.Privs {
			for _, c := range pr.Cmnds {
				all := !c.Negated && s.isAll(c.Cmnd, map[string]bool{})
				g.All = g.All || all
				g.Nopasswd = g.Nopasswd || c.Nopasswd && !c.Negated
				g.NopasswdAll = g.NopasswdAll || c.Nopasswd && all
				if g.Runas == "" {
					g.Runas = c.Runas
				}
				cmd := c.Cmnd
				if c.Negated {
					cmd = "!" + cmd
				}
				g.Commands = append(g.Commands, cmd)
			}
		}
		out = append(out, g)
	}
	return out
}

// isAll tells whether a command is ALL, directly or through Cmnd_Aliases.
func (s *Sudoers) isAll(cmnd string, seen map[string]bool) bool {
	if cmnd == "ALL" {
		return true
	}
	members, ok := s.aliases["Cmnd_Alias"][cmnd]
	if !ok || seen[cmnd] {
		return false
	}
	seen[cmnd] = true
	for _, m := range members {
		if !strings.HasPrefix(m, "!") && s.isAll(m, seen) {
			return true
		}
	}
	return false
}

// expand replaces alias names by their members, recursively.
func (s *Sudoers) expand(kind string, items []string, seen map[string]bool) []string {
	var out []string
	for _, it := range items {
		neg := strings.HasPrefix(it, "!")
		name := strings.TrimPrefix(it, "!")
		members, ok := s.aliases[kind][name]
		if !ok || seen[name] || neg {
			out = append(out, it)
			continue
		}
		seen[name] = true
		out = append(out, s.expand(kind, members, seen)...)
	}
	return out
}
