package services

import (
	"bufio"
	"github.com/nodeguard/nodeguard/probes/probetest"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// fakeSystemd implements the org.freedesktop.systemd1.Manager method the
// probe calls, over a real bus.
type fakeSystemd struct {
	mu       sync.Mutex
	units    []unitStatus
	patterns [][]string // what callers asked for
}

// unitStatus has the D-Bus signature (ssssssouso) of systemd's ListUnits*
// replies.
type unitStatus struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

func (m *fakeSystemd) ListUnitsByPatterns(states, patterns []string) ([]unitStatus, *dbus.Error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.patterns = append(m.patterns, patterns)
	var out []unitStatus
	for _, u := range m.units {
		for _, p := range patterns {
			if ok, _ := path.Match(p, u.Name); ok {
				out = append(out, u)
				break
			}
		}
	}
	return out, nil
}

func loaded(name, active, sub string) unitStatus {
	return unitStatus{Name: name, Description: name, LoadState: "loaded", ActiveState: active, SubState: sub,
		Path: dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + strings.NewReplacer(".", "_2e", "@", "_40", "-", "_2d", ":", "_3a").Replace(name)), JobPath: "/"}
}

// startBus runs a private dbus-daemon listening at socket and returns once
// it accepts connections.
func startBus(t *testing.T, socket string) {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus)")
	}
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=`+escapeAddr(socket)+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon: %s", stderr.String())
		}
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon did not start: %v", err)
	}
	if !strings.Contains(addr, escapeAddr(socket)) {
		t.Fatalf("dbus-daemon listens at %q, want %s", addr, socket)
	}
}

// serveSystemd connects to the bus at socket as org.freedesktop.systemd1.
func serveSystemd(t *testing.T, socket string, m *fakeSystemd) {
	t.Helper()
	conn, err := dbus.Dial("unix:path=" + escapeAddr(socket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Hello(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(m, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
}

// hostTree copies a fixture so a bus socket can be added to its /run. The
// copy's path has characters D-Bus addresses must escape.
func hostTree(t *testing.T, fixture string) string {
	dir := filepath.Join(t.TempDir(), "host root,1")
	probetest.CopyTreeTo(t, fixture, dir)
	return dir
}

// TestActiveStateOverDBus runs the probe on a host tree whose
// /run/dbus/system_bus_socket is a private dbus-daemon, with a systemd
// Manager on it: the probe finds the socket under the host root by itself.
func TestActiveStateOverDBus(t *testing.T) {
	dir := hostTree(t, "testdata/hardened")
	socket := filepath.Join(dir, "run/dbus/system_bus_socket")
	startBus(t, socket)
	m := &fakeSystemd{units: []unitStatus{
		loaded("auditd.service", "active", "running"),
		loaded("ssh.service", "active", "running"),
		// Started by hand although disabled.
		loaded("cups.service", "active", "running"),
		loaded("avahi-daemon.service", "inactive", "dead"),
		loaded("telnet@0-10.0.0.1:23-10.0.0.2:4242.service", "active", "running"),
	}}
	serveSystemd(t, socket, m)

	fs := runProbe(t, dir)
	expect(t, fs, IDSystemd, finding.Pass, "systemd answered over D-Bus at /run/dbus/system_bus_socket")
	expect(t, fs, "auditd", finding.Pass, "is enabled (auditd.service ← /etc/systemd/system/multi-user.target.wants) and running")
	expect(t, fs, "cups", finding.Fail, "is running (cups.service=active/running)")
	expect(t, fs, "telnet", finding.Fail, "running (telnet@0-10.0.0.1:23-10.0.0.2:4242.service=active/running)")
	expect(t, fs, "avahi", finding.Pass, "masked")
	if f := byService(fs)["avahi"]; f.Evidence.Get("activeState") != "inactive" {
		t.Errorf("avahi: %v", f.Evidence)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.patterns) != 1 || !contains(m.patterns[0], "telnet@*.service") || !contains(m.patterns[0], "auditd.service") {
		t.Errorf("patterns asked: %v", m.patterns)
	}

	// auditd enabled but stopped.
	m.units[0] = loaded("auditd.service", "failed", "failed")
	m.mu.Unlock()
	fs = runProbe(t, dir)
	m.mu.Lock()
	expect(t, fs, "auditd", finding.Fail, "enabled but not running")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDeadBusSocket: a socket file nobody listens on is an error finding
// (not a hang), and the services are still judged from their unit files.
func TestDeadBusSocket(t *testing.T) {
	dir := hostTree(t, "testdata/debian")
	socket := filepath.Join(dir, "run/systemd/private")
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	fs := runProbe(t, dir)
	expect(t, fs, IDSystemd, finding.Error, "connecting to systemd at /run/systemd/private")
	expect(t, fs, "cups", finding.Fail, "enabled")
	if f := byService(fs)["cups"]; f.Evidence.Get("activeState") != Unavailable {
		t.Errorf("cups: %v", f.Evidence)
	}
}
