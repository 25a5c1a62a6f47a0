package services

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// busTimeout bounds connecting to and querying systemd: a wedged bus must
// not stall the scan.
const busTimeout = 3 * time.Second

// bus is a way to reach systemd: its private socket (a direct, peer-to-peer
// connection, as systemctl uses when run as root) or the system bus.
type bus struct {
	address string
	direct  bool   // no bus daemon: no Hello
	where   string // for messages
}

// findBus returns the systemd sockets under the host root, private first.
func findBus(root *hostfs.Root) []bus {
	var out []bus
	for _, c := range []struct {
		path   string
		direct bool
	}{
		{"/run/systemd/private", true},
		{"/run/dbus/system_bus_socket", false},
		{"/var/run/dbus/system_bus_socket", false},
	} {
		fi, err := root.Lstat(c.path)
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			continue
		}
		out = append(out, bus{
			address: "unix:path=" + escapeAddr(root.Path()+c.path),
			direct:  c.direct, where: c.path,
		})
	}
	return out
}

// escapeAddr escapes a D-Bus address value: bytes outside the optionally
// escaped set are written as %xx.
func escapeAddr(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_/.\\*", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

func (b bus) dial(ctx context.Context) (*dbus.Conn, error) {
	conn, err := dbus.Dial(b.address, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	// EXTERNAL with the numeric uid, as systemctl does; no user lookup.
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, err
	}
	if !b.direct {
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// UnitState is systemd's view of a loaded unit.
type UnitState struct {
	Name, LoadState, ActiveState, SubState string
}

// activeStates asks systemd for the units matching patterns (ListUnitsByPatterns:
// loaded units only, which every running one is).
func activeStates(ctx context.Context, b bus, patterns []string) (map[string]UnitState, error) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	c, err := sddbus.NewConnection(func() (*dbus.Conn, error) { return b.dial(ctx) })
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd at %s: %w", b.where, err)
	}
	defer c.Close()
	units, err := c.ListUnitsByPatternsContext(ctx, nil, patterns)
	if err != nil {
		return nil, fmt.Errorf("systemd at %s: ListUnitsByPatterns: %w", b.where, err)
	}
	out := make(map[string]UnitState, len(units))
	for _, u := range units {
		out[u.Name] = UnitState{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState}
	}
	return out, nil
}

func running(s string) bool {
	return s == "active" || s == "activating" || s == "reloading" || s == "refreshing"
}
