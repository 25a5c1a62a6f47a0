package sshd

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// hostDB answers what sshd asks the C library while parsing: users and
// their groups (Match Group) and TCP service names (Port ssh), read from the
// host's own files rather than the agent's.
type hostDB struct {
	root *hostfs.Root

	once     sync.Once
	users    map[string]int      // name -> primary gid
	groups   map[int]string      // gid -> name, first entry wins like getgrgid
	members  map[string][]string // user -> supplementary group names
	services map[string]int      // tcp service names and aliases
}

func newHostDB(root *hostfs.Root) *hostDB { return &hostDB{root: root} }

func (h *hostDB) load() {
	h.once.Do(func() {
		h.users = map[string]int{}
		h.groups = map[int]string{}
		h.members = map[string][]string{}
		h.services = map[string]int{}
		// Unreadable files mean no users, groups or services: a Match Group
		// then never matches and Port takes numbers only, nothing worse.
		_ = h.root.Lines("/etc/passwd", func(line []byte) bool {
			f := strings.Split(string(line), ":")
			if len(f) >= 4 && f[0] != "" && !strings.HasPrefix(f[0], "#") {
				if gid, err := strconv.Atoi(f[3]); err == nil {
					if _, dup := h.users[f[0]]; !dup {
						h.users[f[0]] = gid
					}
				}
			}
			return true
		})
		_ = h.root.Lines("/etc/group", func(line []byte) bool {
			f := strings.Split(string(line), ":")
			if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "#") {
				return true
			}
			gid, err := strconv.Atoi(f[2])
			if err != nil {
				return true
			}
			if _, dup := h.groups[gid]; !dup {
				h.groups[gid] = f[0]
			}
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					h.members[m] = append(h.members[m], f[0])
				}
			}
			return true
		})
		_ = h.root.Lines("/etc/services", func(line []byte) bool {
			s := string(line)
			if i := strings.IndexByte(s, '#'); i >= 0 {
				s = s[:i]
			}
			f := strings.Fields(s)
			if len(f) < 2 {
				return true
			}
			num, proto, ok := strings.Cut(f[1], "/")
			if !ok || proto != "tcp" {
				return true
			}
			port, err := strconv.Atoi(num)
			if err != nil || port < 0 || port > 65535 {
				return true
			}
			for _, name := range append([]string{f[0]}, f[2:]...) {
				if _, dup := h.services[name]; !dup {
					h.services[name] = port
				}
			}
			return true
		})
	})
}

func (h *hostDB) service(name string) (int, bool) {
	h.load()
	p, ok := h.services[name]
	return p, ok
}

// userGroups returns the names of user's groups, as ga_init collects them
// (primary group first, then supplementary ones), and whether user exists.
func (h *hostDB) userGroups(user string) ([]string, bool) {
	h.load()
	gid, ok := h.users[user]
	if !ok {
		return nil, false
	}
	var out []string
	if name, ok := h.groups[gid]; ok {
		out = append(out, name)
	}
	for _, g := range h.members[user] {
		if !contains(out, g) {
			out = append(out, g)
		}
	}
	return out, true
}

// matchGroup is match_cfg_line_group: 1 when one of user's groups matches
// the list and none is excluded by a negated entry.
func (h *hostDB) matchGroup(list, user string) int {
	groups, ok := h.userGroups(user)
	if !ok || len(groups) == 0 {
		return 0
	}
	found := 0
	for _, g := range groups {
		switch matchPatternList(g, list, false) {
		case -1:
			return 0
		case 1:
			found = 1
		}
	}
	return found
}

// userInGroups returns a user (the first by name) whose groups match list.
func (h *hostDB) userInGroups(list string) (string, bool) {
	h.load()
	names := make([]string, 0, len(h.users))
	for u := range h.users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		if h.matchGroup(list, u) == 1 {
			return u, true
		}
	}
	return "", false
}
