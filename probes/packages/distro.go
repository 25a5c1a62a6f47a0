package packages

import (
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// distro is the host's os-release identity.
type distro struct {
	ID, VersionID, Pretty string
	Like                  []string
}

func (d distro) is(ids ...string) bool {
	for _, id := range ids {
		if d.ID == id {
			return true
		}
		for _, l := range d.Like {
			if l == id {
				return true
			}
		}
	}
	return false
}

func (d distro) String() string {
	if d.Pretty != "" {
		return d.Pretty
	}
	if d.ID == "" {
		return "unknown"
	}
	return strings.TrimSpace(d.ID + " " + d.VersionID)
}

// readDistro parses /etc/os-release (or /usr/lib/os-release); a host
// without one is "unknown", which is not an error.
func readDistro(root *hostfs.Root) distro {
	var d distro
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := root.ReadFileLimit(p, 64<<10)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"'`)
			switch k {
			case "ID":
				d.ID = v
			case "VERSION_ID":
				d.VersionID = v
			case "PRETTY_NAME":
				d.Pretty = v
			case "ID_LIKE":
				d.Like = strings.Fields(v)
			}
		}
		return d
	}
	return d
}
