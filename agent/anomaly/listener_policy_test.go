package anomaly

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

type listenerCase struct {
	role     probes.Role
	proto    string // tcp or udp
	addr     string // address:port
	comm     string
	kind     ports.VerdictKind
	severity finding.Severity // of a verdict other than allowed
}

// TestListenerVerdictsAgree runs every listener through the ports probe (a
// scan of a host tree holding the sockets) and through the runtime rule
// unexpected-listener (a kernel event), and requires the same verdict of
// both: they judge with one matcher, and this keeps it so.
func TestListenerVerdictsAgree(t *testing.T) {
	const w, cp = probes.Worker, probes.ControlPlane
	const allowed, forbidden, wider, unexpected = ports.VerdictAllowed, ports.VerdictForbidden, ports.VerdictBoundWider, ports.VerdictUnexpected
	cases := []listenerCase{
		{w, "tcp", "0.0.0.0:10250", "kubelet", allowed, ""},
		{w, "tcp", "[::]:10250", "kubelet", allowed, ""},
		{w, "tcp", "0.0.0.0:10255", "kubelet", forbidden, finding.Critical},
		{w, "tcp", "[::]:10255", "kubelet", forbidden, finding.Critical},
		{w, "tcp", "127.0.0.1:10249", "kube-proxy", allowed, ""},
		{w, "tcp", "[::1]:10249", "kube-proxy", allowed, ""},
		{w, "tcp", "[::ffff:127.0.0.1]:10249", "kube-proxy", allowed, ""},
		{w, "tcp", "0.0.0.0:10249", "kube-proxy", wider, finding.High},
		{w, "tcp", "[::]:10249", "kube-proxy", wider, finding.High},
		{w, "tcp", "10.0.0.5:2379", "etcd", forbidden, finding.Critical},
		{w, "tcp", "127.0.0.1:2379", "etcd", unexpected, finding.Low},
		{w, "tcp", "0.0.0.0:6443", "kube-apiserver", unexpected, finding.High},
		{w, "tcp", "0.0.0.0:4444", "nc", unexpected, finding.High},
		{w, "tcp", "[::1]:6060", "debugd", unexpected, finding.Low},
		{w, "udp", "0.0.0.0:68", "dhclient", allowed, ""},
		{w, "udp", "[::]:546", "dhclient", allowed, ""},
		{w, "udp", "0.0.0.0:68", "nc", unexpected, finding.High},
		{w, "udp", "[::]:5353", "avahi-daemon", unexpected, finding.High},
		{w, "udp", "127.0.0.1:323", "chronyd", allowed, ""},
		{w, "udp", "0.0.0.0:323", "chronyd", wider, finding.High},
		{w, "udp", "[::]:10250", "kubelet", unexpected, finding.High},
		{w, "udp", "0.0.0.0:31000", "kube-proxy", allowed, ""},
		{w, "udp", "127.0.0.53:53", "systemd-resolve", allowed, ""},
		{w, "udp", "0.0.0.0:53", "systemd-resolve", wider, finding.High},
		// The user's additions: an IPv4 prefix and an IPv6 address.
		{w, "tcp", "10.1.2.3:9100", "node_exporter", allowed, ""},
		{w, "tcp", "[::ffff:10.1.2.3]:9100", "node_exporter", allowed, ""},
		{w, "tcp", "[fd00::1]:9100", "node_exporter", allowed, ""},
		{w, "tcp", "[fd00::2]:9100", "node_exporter", wider, finding.High},
		{w, "tcp", "0.0.0.0:9100", "node_exporter", wider, finding.High},
		{w, "udp", "10.1.2.3:9100", "node_exporter", unexpected, finding.High},
		// The agent's own endpoint (agentPort) and its metrics rule.
		{w, "tcp", "0.0.0.0:9900", "nodeguard", allowed, ""},
		{w, "tcp", "[::]:9900", "nodeguard", allowed, ""},
		{w, "udp", "0.0.0.0:9900", "nodeguard", unexpected, finding.High},
		{w, "tcp", "0.0.0.0:9900", "python3", unexpected, finding.High},
		{w, "tcp", "[::1]:9809", "nodeguard", allowed, ""},
		{cp, "tcp", "[::]:6443", "kube-apiserver", allowed, ""},
		{cp, "udp", "[::]:6443", "kube-apiserver", unexpected, finding.High},
		{cp, "tcp", "10.0.0.10:2379", "etcd", allowed, ""},
		{cp, "tcp", "127.0.0.1:2381", "etcd", allowed, ""},
		{cp, "tcp", "0.0.0.0:2381", "etcd", wider, finding.High},
		{cp, "tcp", "0.0.0.0:8080", "kube-apiserver", forbidden, finding.Critical},
		{cp, "tcp", "0.0.0.0:8080", "python3", unexpected, finding.High},
		{cp, "tcp", "[::]:10251", "kube-scheduler", forbidden, finding.Critical},
		{cp, "tcp", "0.0.0.0:10250", "kubelet", allowed, ""},
		{cp, "tcp", "0.0.0.0:9900", "nodeguard", allowed, ""},
	}
	pol, err := policy.Parse([]byte(`ports:
  allow:
    - {description: node exporter, protocol: tcp, ports: 9100, addresses: [10.0.0.0/8, "fd00::1"]}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	const agentPort = 9900
	agent := []probes.Listener{{Protocol: "tcp", Port: agentPort}}

	byRole := map[probes.Role][]listenerCase{}
	for _, c := range cases {
		byRole[c.role] = append(byRole[c.role], c)
	}
	for role, cs := range byRole {
		scanned := scanListeners(t, pol, role, agent, cs)
		j := &judge{
			pol:   policy.Section[Policy](pol, PolicySection),
			ports: policy.Section[ports.Policy](pol, ports.Name),
			role:  func() probes.Role { return role }, agentListeners: agent,
		}
		for i, c := range cs {
			name := fmt.Sprintf("%s %s %s %s", role, c.proto, c.addr, c.comm)
			f := scanned[i]
			scanKind, scanSev := findingVerdict(f)
			runKind, runSev, ev := eventVerdict(t, j, c)
			if scanKind != c.kind || runKind != c.kind {
				t.Errorf("%s: scan says %v (%s), runtime says %v (%v), want %v", name, scanKind, f.Message, runKind, ev, c.kind)
				continue
			}
			if c.kind != allowed && (scanSev != c.severity || runSev != c.severity) {
				t.Errorf("%s: severity: scan %s, runtime %s, want %s", name, scanSev, runSev, c.severity)
			}
			if ev != nil && (ev.Details["rule"] != f.Evidence.Get("rule") ||
				strings.TrimSuffix(ev.Details["protocol"], "6") != f.Evidence.Get("protocol")) {
				t.Errorf("%s: runtime details %v, scan evidence %v", name, ev.Details, f.Evidence)
			}
		}
	}

	// The runtime also knows the agent by its pid, whatever its name.
	j := &judge{ports: policy.Section[ports.Policy](pol, ports.Name), pol: policy.Section[Policy](pol, PolicySection), agentListeners: agent}
	self := listenEvent(t, listenerCase{proto: "tcp", addr: "0.0.0.0:9900", comm: "renamed"})
	binary.LittleEndian.PutUint32(self[16+4*3:], uint32(selfPID))
	if evs := judgeRaw(t, j, self); len(evs) != 0 {
		t.Errorf("the agent's own listener under another name: %+v", evs)
	}
}

// scanListeners writes a host tree holding the listeners, one process each,
// scans it with the ports probe and returns the listeners' findings in order.
func scanListeners(t *testing.T, pol *policy.Policy, role probes.Role, agent []probes.Listener, cs []listenerCase) []finding.Finding {
	t.Helper()
	dir := t.TempDir()
	tables := map[string][]string{}
	for i, c := range cs {
		ap := netip.MustParseAddrPort(c.addr)
		pid, inode := 1000+i, 5000+i
		table, state := c.proto, "0A"
		if c.proto == "udp" {
			state = "07"
		}
		if ap.Addr().Is6() {
			table += "6"
		}
		local := procHex(ap.Addr())
		tables[table] = append(tables[table], fmt.Sprintf("%4d: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0",
			len(tables[table]), local, ap.Port(), strings.Repeat("0", len(local)), state, inode))
		p := filepath.Join(dir, "proc", strconv.Itoa(pid))
		write(t, filepath.Join(p, "comm"), c.comm+"\n")
		write(t, filepath.Join(p, "stat"), fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 1100 1000 100\n", pid, c.comm, pid, pid))
		write(t, filepath.Join(p, "cgroup"), "0::/system.slice/test.service\n")
		if err := os.MkdirAll(filepath.Join(p, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(p, "fd", "3")); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		lines := append([]string{"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"}, tables[table]...)
		write(t, filepath.Join(dir, "proc", "1", "net", table), strings.Join(lines, "\n")+"\n")
	}
	env := probetest.Env(t, dir, role)
	env.Policy, env.AgentListeners = pol, agent
	byInode := map[string]finding.Finding{}
	for _, f := range (&ports.Probe{}).Run(context.Background(), env) {
		if f.ID != ports.IDListener {
			t.Fatalf("scan: %s: %s", f.Title, f.Message)
		}
		byInode[f.Evidence.Get("inode")] = f
	}
	out := make([]finding.Finding, len(cs))
	for i := range cs {
		f, ok := byInode[strconv.Itoa(5000+i)]
		if !ok || f.Evidence.Get("pid") != strconv.Itoa(1000+i) {
			t.Fatalf("scan: %s %s: no finding with its owner (%v)", cs[i].proto, cs[i].addr, f.Evidence)
		}
		out[i] = f
	}
	return out
}

// procHex formats an address as /proc/net/{tcp,udp}{,6} do: each 32-bit
// word in host (little-endian) byte order.
func procHex(a netip.Addr) string {
	b := a.AsSlice()
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%02X%02X%02X%02X", b[i+3], b[i+2], b[i+1], b[i])
	}
	return s.String()
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func findingVerdict(f finding.Finding) (ports.VerdictKind, finding.Severity) {
	switch {
	case f.Status == finding.Pass:
		return ports.VerdictAllowed, f.Severity
	case strings.HasPrefix(f.Title, "Forbidden listener: "):
		return ports.VerdictForbidden, f.Severity
	case f.Title == "Listener bound wider than allowed":
		return ports.VerdictBoundWider, f.Severity
	}
	return ports.VerdictUnexpected, f.Severity
}

// listenEvent is the kernel's record of a listen by c.comm (pid 100).
func listenEvent(t *testing.T, c listenerCase) []byte {
	t.Helper()
	const afInet, afInet6, ipprotoTCP, ipprotoUDP = 2, 10, 6, 17
	ap := netip.MustParseAddrPort(c.addr)
	family, proto := uint32(afInet), uint32(ipprotoTCP)
	if ap.Addr().Is6() {
		family = afInet6
	}
	if c.proto == "udp" {
		proto = ipprotoUDP
	}
	b := rawEvent(kindListen, 1<<UnexpectedListener, 0, c.comm, "", "", nil, uint32(ap.Port()), family, proto)
	clear(b[64:80])
	copy(b[64:80], ap.Addr().AsSlice())
	return b
}

func judgeRaw(t *testing.T, j *judge, b []byte) []Event {
	t.Helper()
	r, err := decodeRaw(b)
	if err != nil {
		t.Fatal(err)
	}
	return j.events(&r)
}

func eventVerdict(t *testing.T, j *judge, c listenerCase) (ports.VerdictKind, finding.Severity, *Event) {
	evs := judgeRaw(t, j, listenEvent(t, c))
	switch {
	case len(evs) == 0:
		return ports.VerdictAllowed, "", nil
	case len(evs) > 1 || evs[0].Rule != "unexpected-listener":
		t.Fatalf("%s %s: %+v", c.proto, c.addr, evs)
	case strings.Contains(evs[0].Message, "which must not be open"):
		return ports.VerdictForbidden, evs[0].Severity, &evs[0]
	case strings.Contains(evs[0].Message, "allowed only on"):
		return ports.VerdictBoundWider, evs[0].Severity, &evs[0]
	}
	return ports.VerdictUnexpected, evs[0].Severity, &evs[0]
}
