package dnf

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Config files dnf, dnf5 and yum read, and the repo directories they look
// in when [main] sets no reposdir.
var (
	MainConfigs     = []string{"/etc/dnf/dnf.conf", "/etc/yum.conf"}
	DefaultReposDir = []string{"/etc/yum.repos.d", "/etc/yum/repos.d", "/etc/distro.repos.d"}
)

// Repo is one configured repository.
type Repo struct {
	ID      string
	File    string // where it is defined
	Enabled bool
	// Exclude and Include are the repo's excludepkgs/includepkgs globs.
	Exclude, Include []string
}

// Config is what the repo configuration says.
type Config struct {
	Repos      []Repo   // sorted by id
	Exclude    []string // [main] excludepkgs
	CacheDirs  []string // [main] cachedir, when set
	ConfigFile string   // the [main] file read, "" if none
	Inputs     []string // files read
}

// iniSection is one [section] of an ini file.
type iniSection struct {
	name string
	keys map[string]string
}

// parseINI reads dnf's ini dialect: "key = value" or "key: value",
// '#' and ';' comments, indented lines continuing the previous value.
func parseINI(name string, data []byte) ([]iniSection, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%s: binary data, not an ini file", name)
	}
	var out []iniSection
	var cur *iniSection
	lastKey := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated section header %q", name, n, line)
			}
			out = append(out, iniSection{name: strings.TrimSpace(line[1:end]), keys: map[string]string{}})
			cur, lastKey = &out[len(out)-1], ""
			continue
		}
		if (raw[0] == ' ' || raw[0] == '\t') && cur != nil && lastKey != "" {
			cur.keys[lastKey] += " " + line
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: %q is not a key=value line", name, n, clip(line))
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: key outside a [section]", name, n)
		}
		lastKey = strings.ToLower(strings.TrimSpace(line[:i]))
		cur.keys[lastKey] = strings.TrimSpace(line[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// boolean reads dnf's booleans; def when unset or unreadable.
func boolean(v string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on":
		return true
	case "0", "no", "false", "off":
		return false
	}
	return def
}

// list splits dnf's list options (comma or space separated).
func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

func repoFromSection(s iniSection, file string) Repo {
	r := Repo{ID: s.name, File: file, Enabled: boolean(s.keys["enabled"], true)}
	r.Exclude = append(list(s.keys["exclude"]), list(s.keys["excludepkgs"])...)
	r.Include = list(s.keys["includepkgs"])
	return r
}

// ReadConfig reads [main] and the repo files. A file that cannot be
// parsed is returned in problems and skipped.
func ReadConfig(root *hostfs.Root) (*Config, []Problem) {
	cfg := &Config{}
	var problems []Problem
	reposDirs := DefaultReposDir
	seen := map[string]bool{}
	add := func(r Repo) {
		if seen[r.ID] {
			return // the first definition wins, as in dnf
		}
		seen[r.ID] = true
		cfg.Repos = append(cfg.Repos, r)
	}
	for _, mc := range MainConfigs {
		data, err := root.ReadFileLimit(mc, 1<<20)
		if err != nil {
			if root.Exists(mc) {
				problems = append(problems, Problem{File: mc, Err: err})
			}
			continue
		}
		cfg.Inputs = append(cfg.Inputs, mc)
		secs, err := parseINI(mc, data)
		if err != nil {
			problems = append(problems, Problem{File: mc, Err: err})
			continue
		}
		cfg.ConfigFile = mc
		for _, s := range secs {
			if s.name != "main" {
				add(repoFromSection(s, mc))
				continue
			}
			cfg.Exclude = append(list(s.keys["exclude"]), list(s.keys["excludepkgs"])...)
			if v := list(s.keys["reposdir"]); len(v) > 0 {
				reposDirs = v
			}
			if v := s.keys["cachedir"]; v != "" {
				cfg.CacheDirs = append(cfg.CacheDirs, v)
			}
		}
		break // dnf reads dnf.conf, yum yum.conf: the first one present is the host's
	}
	for _, dir := range reposDirs {
		names, err := root.ReadDirNames(dir)
		if err != nil {
			continue
		}
		for _, n := range names {
			if !strings.HasSuffix(n, ".repo") {
				continue
			}
			p := path.Join(dir, n)
			data, err := root.ReadFileLimit(p, 4<<20)
			if err != nil {
				problems = append(problems, Problem{File: p, Err: err})
				continue
			}
			cfg.Inputs = append(cfg.Inputs, p)
			secs, err := parseINI(p, data)
			if err != nil {
				problems = append(problems, Problem{File: p, Err: err})
				continue
			}
			for _, s := range secs {
				add(repoFromSection(s, p))
			}
		}
		cfg.Inputs = append(cfg.Inputs, dir) // a new .repo file changes the directory
	}
	sort.Slice(cfg.Repos, func(i, j int) bool { return cfg.Repos[i].ID < cfg.Repos[j].ID })
	return cfg, problems
}
