package ports

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// requireSS returns the path of ss, failing under CI (which installs it) and
// skipping elsewhere when it is missing.
func requireSS(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: ss -p and the probe read every process's fds")
	}
	p, err := exec.LookPath("ss")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ss (iproute2) is not installed")
		}
		t.Skip("ss (iproute2) is not installed")
	}
	return p
}

// liveHost is this host's root, with the test's sockets open, for the tests
// that compare the probe's readers with each other or with ss.
func liveHost(t *testing.T) *hostfs.Root {
	t.Helper()
	requireSS(t)
	openTestSockets(t)
	root, err := hostfs.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// openTestSockets opens listeners of every shape ss distinguishes.
func openTestSockets(t *testing.T) {
	t.Helper()
	var closers []func() error
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	for _, c := range []struct{ network, addr string }{
		{"tcp4", "0.0.0.0:0"}, {"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"}, {"tcp", "[::]:0"}, // "tcp" on [::] is dual-stack
	} {
		l, err := net.Listen(c.network, c.addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", c.network, c.addr, err)
		}
		closers = append(closers, l.Close)
	}
	for _, c := range []struct{ network, addr string }{
		{"udp4", "0.0.0.0:0"}, {"udp4", "127.0.0.1:0"}, {"udp", "[::]:0"}, {"udp6", "[::1]:0"},
	} {
		pc, err := net.ListenPacket(c.network, c.addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", c.network, c.addr, err)
		}
		closers = append(closers, pc.Close)
	}
	// An IPv6 socket bound to an IPv4-mapped address (Go's net refuses to).
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, func() error { return syscall.Close(fd) })
	mapped := &syscall.SockaddrInet6{Addr: netip.MustParseAddr("::ffff:127.0.0.1").As16()}
	if err := syscall.Bind(fd, mapped); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	// SO_REUSEPORT pair: two sockets, one address.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1) })
		return serr
	}}
	a, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lc.Listen(context.Background(), "tcp4", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, a.Close, b.Close)
	// A socket bound to a device prints as "0.0.0.0%lo" in ss.
	dev := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.BindToDevice(int(fd), "lo") })
		return serr
	}}
	d, err := dev.Listen(context.Background(), "tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, d.Close)
}

var ssUsers = regexp.MustCompile(`\("([^"]*)",pid=(\d+),fd=\d+\)`)

// parseSS turns `ss -H -l...p` output into sorted keys "proto addr:port pids".
// With a single protocol selected ss omits the Netid column.
func parseSS(t *testing.T, out, proto string) []string {
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		p := proto
		if f[0] == "tcp" || f[0] == "udp" {
			p, f = f[0], f[1:]
		}
		if len(f) < 4 {
			t.Fatalf("ss line %q", line)
		}
		local := f[3]
		i := strings.LastIndexByte(local, ':')
		host, port := local[:i], local[i+1:]
		host = strings.Trim(host, "[]")
		if j := strings.IndexByte(host, '%'); j >= 0 {
			host = host[:j] // bound device: /proc/net does not show it
		}
		if host == "*" {
			host = "::"
		}
		addr := netip.MustParseAddr(host)
		var pids []string
		for _, m := range ssUsers.FindAllStringSubmatch(line, -1) {
			pids = append(pids, m[2])
		}
		sort.Strings(pids)
		pids = dedup(pids)
		keys = append(keys, fmt.Sprintf("%s %s %s", p, netip.AddrPortFrom(addr, mustPort(port)), strings.Join(pids, ",")))
	}
	sort.Strings(keys)
	return keys
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func runSS(t *testing.T, ss string) []string {
	t.Helper()
	all, err := exec.Command(ss, "-H", "-ltnup").Output()
	if err != nil {
		t.Fatal(err)
	}
	udp, err := exec.Command(ss, "-H", "-lunp").Output()
	if err != nil {
		t.Fatal(err)
	}
	keys := parseSS(t, string(all), "")
	// -ltnup already lists UDP; -lunp must agree with its UDP part.
	var udpFromAll []string
	for _, k := range keys {
		if strings.HasPrefix(k, "udp ") {
			udpFromAll = append(udpFromAll, k)
		}
	}
	if u := parseSS(t, string(udp), "udp"); strings.Join(u, "\n") != strings.Join(udpFromAll, "\n") {
		// a socket came or went between the two ss runs
		return nil
	}
	return keys
}

func probeKeys(t *testing.T) []string {
	root, err := hostfs.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	var keys []string
	for _, f := range (&Probe{}).Run(context.Background(), env) {
		if f.ID != IDListener {
			continue
		}
		pids := f.Evidence.Get("pids")
		if pids == "" {
			pids = f.Evidence.Get("pid")
		}
		ps := strings.Split(pids, ",")
		sort.Strings(ps)
		keys = append(keys, fmt.Sprintf("%s %s %s", f.Evidence.Get("protocol"),
			netip.AddrPortFrom(netip.MustParseAddr(f.Evidence.Get("address")), mustPort(f.Evidence.Get("port"))), strings.Join(ps, ",")))
	}
	sort.Strings(keys)
	return keys
}

// TestAgreesWithSS is the differential test: on this host, with listeners of
// every kind opened by the test, the probe reports exactly the sockets and
// owning pids that ss reports. Other processes may open or close sockets
// meanwhile, so a comparison counts only when ss saw the same set before and
// after the probe ran.
func TestAgreesWithSS(t *testing.T) {
	ss := requireSS(t)
	openTestSockets(t)
	for attempt := 0; attempt < 10; attempt++ {
		before := runSS(t, ss)
		got := probeKeys(t)
		after := runSS(t, ss)
		if before == nil || strings.Join(before, "\n") != strings.Join(after, "\n") {
			continue
		}
		if strings.Join(got, "\n") != strings.Join(before, "\n") {
			t.Fatalf("probe and ss disagree\nprobe:\n%s\nss:\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
		}
		mine := 0
		self := fmt.Sprint(os.Getpid())
		for _, k := range got {
			if strings.HasSuffix(k, " "+self) {
				mine++
			}
		}
		if mine != 12 {
			t.Fatalf("found %d of the test's 12 sockets:\n%s", mine, strings.Join(got, "\n"))
		}
		return
	}
	t.Fatal("the host's socket set never held still long enough to compare")
}

// TestDiagAgreesWithProcNet compares the two socket readers on this host: the
// sock_diag dump and the /proc/net tables must list the same sockets.
func TestDiagAgreesWithProcNet(t *testing.T) {
	root := liveHost(t)
	key := func(ss []Socket) string {
		var k []string
		for _, s := range ss {
			k = append(k, fmt.Sprintf("%s %s %d", s.Protocol, netip.AddrPortFrom(s.Addr, s.Port), s.Inode))
		}
		sort.Strings(k)
		return strings.Join(k, "\n")
	}
	for attempt := 0; attempt < 10; attempt++ {
		a, err := diagSockets(0) // grown by doubling
		if err != nil {
			t.Fatal(err)
		}
		b, err := readSockets(root, "/proc/net")
		if err != nil {
			t.Fatal(err)
		}
		c, _ := diagSockets(socketCountHint(root)) // sized once
		if key(a) != key(c) {
			continue // the host changed meanwhile
		}
		if key(a) != key(b) {
			t.Fatalf("sock_diag and /proc/net disagree\nsock_diag:\n%s\n/proc/net:\n%s", key(a), key(b))
		}
		if len(a) < 12 {
			t.Fatalf("only %d sockets", len(a))
		}
		return
	}
	t.Fatal("the host's socket set never held still long enough to compare")
}

// TestDiagCompatAgreesWithPerFamily holds the one TCPDIAG_GETSOCK dump of
// both families to the per-family SOCK_DIAG_BY_FAMILY dumps it replaces
// (and that kernels without it fall back to).
func TestDiagCompatAgreesWithPerFamily(t *testing.T) {
	requireSS(t)
	openTestSockets(t)
	dump := func(qs ...diagQuery) string {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		d := &diagDump{fd: fd, buf: make([]byte, netlinkRecvBufSize)}
		for _, q := range qs {
			if err := d.dump(q); err != nil {
				t.Fatal(err)
			}
		}
		var k []string
		for _, s := range d.out {
			k = append(k, fmt.Sprintf("%s %s %d", s.Protocol, netip.AddrPortFrom(s.Addr, s.Port), s.Inode))
		}
		sort.Strings(k)
		return strings.Join(k, "\n")
	}
	compat := diagQuery{msgType: tcpDiagGetSock, proto: unix.IPPROTO_TCP, state: tcpListenState, name: "tcp"}
	v4, v6 := compat, compat
	v4.msgType, v4.family = unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET
	v6.msgType, v6.family = unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6
	for attempt := 0; attempt < 10; attempt++ {
		a, b, c := dump(compat), dump(v4, v6), dump(compat)
		if a != c {
			continue // the host changed meanwhile
		}
		if a != b {
			t.Fatalf("TCPDIAG_GETSOCK and SOCK_DIAG_BY_FAMILY disagree\ncompat:\n%s\nper family:\n%s", a, b)
		}
		if !strings.Contains(a, "[::1]") || !strings.Contains(a, "127.0.0.1") {
			t.Fatalf("want listeners of both families, got\n%s", a)
		}
		return
	}
	t.Fatal("the host's socket set never held still long enough to compare")
}

func TestParseDiagMsgRejectsShortRecords(t *testing.T) {
	if _, err := parseDiagMsg(make([]byte, 40), "tcp"); err == nil {
		t.Fatal("want an error for a short record")
	}
	m := make([]byte, sizeofInetDiagMsg)
	m[0] = 99
	if _, err := parseDiagMsg(m, "tcp"); err == nil {
		t.Fatal("want an error for an unknown family")
	}
}

// TestSocketCountHintCoversTheDumps holds the kernel's own counts, read to
// size the socket list, to what the dumps return: a hint below them would
// only cost a copy, but one that misread sockstat would size nothing.
func TestSocketCountHintCoversTheDumps(t *testing.T) {
	root := liveHost(t)
	hint := socketCountHint(root)
	socks, err := diagSockets(hint)
	if err != nil {
		t.Fatal(err)
	}
	if hint < len(socks) {
		t.Fatalf("hint %d, but the dumps returned %d sockets", hint, len(socks))
	}
	if cap(socks) != hint && hint >= len(socks) {
		t.Fatalf("list of %d sockets has capacity %d, want the hint %d", len(socks), cap(socks), hint)
	}
}

func TestSocketCountHintParsesSockstat(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/proc/net", 0o755); err != nil {
		t.Fatal(err)
	}
	// As Linux 6.18 writes them.
	write := func(name, text string) {
		if err := os.WriteFile(dir+"/proc/net/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sockstat", "sockets: used 20008\nTCP: inuse 10001 orphan 0 tw 3 alloc 10001 mem 122\n"+
		"UDP: inuse 7 mem 0\nUDPLITE: inuse 5\nRAW: inuse 2\nFRAG: inuse 0 memory 0\n")
	write("sockstat6", "TCP6: inuse 11\nUDP6: inuse 13\nUDPLITE6: inuse 17\nRAW6: inuse 19\nFRAG6: inuse 0 memory 0\n")
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if got, want := socketCountHint(root), 10001+7+11+13; got != want {
		t.Fatalf("hint %d, want %d (TCP, UDP, TCP6, UDP6 in use)", got, want)
	}
	write("sockstat6", "TCP6: inuse 99999999\nUDP6: inuse 0\n")
	if got := socketCountHint(root); got != maxCountHint {
		t.Fatalf("hint %d, want the bound %d", got, maxCountHint)
	}
	write("sockstat6", "TCP6: inuse many\n")
	if got := socketCountHint(root); got != 0 {
		t.Fatalf("hint %d from a malformed count, want 0", got)
	}
	if err := os.Remove(dir + "/proc/net/sockstat6"); err != nil {
		t.Fatal(err)
	}
	if got, want := socketCountHint(root), 10001+7; got != want {
		t.Fatalf("hint %d without sockstat6 (IPv6 disabled), want %d", got, want)
	}
	if err := os.Remove(dir + "/proc/net/sockstat"); err != nil {
		t.Fatal(err)
	}
	if got := socketCountHint(root); got != 0 {
		t.Fatalf("hint %d without sockstat, want 0", got)
	}
}
