package ports

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func TestParseHexAddrPort(t *testing.T) {
	for _, c := range []struct {
		in, addr string
		port     uint16
	}{
		{"0100007F:0CEA", "127.0.0.1", 3306},
		{"00000000:0016", "0.0.0.0", 22},
		{"0500000A:2AF8", "10.0.0.5", 11000},
		{"00000000000000000000000000000000:1A0A", "::", 6666},
		{"00000000000000000000000001000000:0277", "::1", 631},
		{"0000000000000000FFFF00000100007F:0050", "::ffff:127.0.0.1", 80},
		{"B80D0120000000000000000001000000:01BB", "2001:db8::1", 443},
	} {
		a, p, err := parseHexAddrPort([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if a != netip.MustParseAddr(c.addr) || p != c.port {
			t.Errorf("%s = %s:%d, want %s:%d", c.in, a, p, c.addr, c.port)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "0100007:0016", "0100007G:0016", "0100007F:10000", "01:02"} {
		if _, _, err := parseHexAddrPort([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestContainerID(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for cg, want := range map[string]string{
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope": id,
		"0::/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope":                                              id,
		"12:pids:/kubepods/burstable/pod1234/" + id + "\n0::/":                                                      id,
		"0::/system.slice/docker-" + id + ".scope":                                                                  id,
		"11:memory:/docker/" + id:                                                                                   id,
		"0::/machine.slice/libpod-" + id + ".scope":                                                                 id,
		"0::/system.slice/sshd.service":                                                                             "",
		"0::/user.slice/" + id[:63]:                                                                                 "",
	} {
		if got := containerID([]byte(cg)); got != want {
			t.Errorf("containerID(%q) = %q, want %q", cg, got, want)
		}
	}
}

func TestParseStatCommWithParens(t *testing.T) {
	comm, start := parseStat([]byte("42 (my (odd) name) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 1"))
	if comm != "my (odd) name" || start != "98765" {
		t.Fatalf("parseStat = %q, %q", comm, start)
	}
}

func scanFixture(t *testing.T, dir string, role probes.Role, pol *policy.Policy) []finding.Finding {
	t.Helper()
	root, err := hostfs.Open("testdata/" + dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	if pol == nil {
		pol = policy.Default()
	}
	env := &probes.Env{Root: root, Policy: pol, Role: role, Log: zerolog.Nop()}
	return (&Probe{}).Run(context.Background(), env)
}

type verdict struct {
	status   finding.Status
	severity finding.Severity
	process  string
	title    string
}

func byAddr(fs []finding.Finding) map[string][]finding.Finding {
	m := map[string][]finding.Finding{}
	for _, f := range fs {
		if f.ID == IDListener {
			k := f.Evidence.Get("protocol") + " " + netip.AddrPortFrom(netip.MustParseAddr(f.Evidence.Get("address")), mustPort(f.Evidence.Get("port"))).String()
			m[k] = append(m[k], f)
		}
	}
	return m
}

func mustPort(s string) uint16 {
	var p uint16
	for _, c := range s {
		p = p*10 + uint16(c-'0')
	}
	return p
}

func TestWorkerFixture(t *testing.T) {
	got := byAddr(scanFixture(t, "worker", probes.Worker, nil))
	want := map[string]verdict{
		"tcp 0.0.0.0:22":      {finding.Pass, finding.Info, "sshd", "Allowed listener: sshd"},
		"tcp 127.0.0.1:10248": {finding.Pass, finding.Info, "kubelet", "Allowed listener: kubelet healthz"},
		"tcp [::]:10250":      {finding.Pass, finding.Info, "kubelet", "Allowed listener: Kubelet API"},
		"tcp 0.0.0.0:10255":   {finding.Fail, finding.Critical, "kubelet", "Forbidden listener: kubelet read-only port"},
		"tcp 0.0.0.0:10249":   {finding.Fail, finding.High, "kube-proxy", "Listener bound wider than allowed"},
		"tcp [::]:31000":      {finding.Pass, finding.Info, "kube-proxy", "Allowed listener: NodePort Services"},
		"tcp 0.0.0.0:30080":   {finding.Pass, finding.Info, "kube-proxy", "Allowed listener: NodePort Services"},
		"tcp 10.0.0.5:2379":   {finding.Fail, finding.Critical, "etcd", "Forbidden listener: etcd reachable on a worker node"},
		"tcp 0.0.0.0:8081":    {finding.Fail, finding.High, "python3", "Unexpected open port"},
		"tcp 127.0.0.1:6060":  {finding.Fail, finding.Low, "debugd", "Unexpected open port"},
		"tcp 0.0.0.0:9000":    {finding.Fail, finding.High, "", "Unexpected open port"},
		"tcp [::1]:9809":      {finding.Pass, finding.Info, "nodeguard", "Allowed listener: nodeguard metrics"},
		"udp 0.0.0.0:68":      {finding.Pass, finding.Info, "dhclient", "Allowed listener: DHCP client"},
		"udp [::]:5353":       {finding.Fail, finding.High, "avahi-daemon", "Unexpected open port"},
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct listeners, want %d: %v", len(got), len(want), keys(got))
	}
	for k, w := range want {
		fs := got[k]
		if len(fs) == 0 {
			t.Errorf("%s: missing", k)
			continue
		}
		f := fs[0]
		if f.Status != w.status || f.Severity != w.severity || f.Evidence.Get("process") != w.process || f.Title != w.title {
			t.Errorf("%s: got %s/%s %q %q, want %s/%s %q %q (%s)", k, f.Status, f.Severity, f.Evidence.Get("process"), f.Title,
				w.status, w.severity, w.process, w.title, f.Message)
		}
	}
	if n := len(got["tcp 0.0.0.0:30080"]); n != 2 {
		t.Errorf("SO_REUSEPORT pair: %d findings, want one per socket", n)
	}
	py := got["tcp 0.0.0.0:8081"][0]
	if py.Evidence.Get("container") != "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a" ||
		py.Evidence.Get("executable") != "/usr/bin/python3.11" || py.Evidence.Get("pid") != "500" {
		t.Errorf("python3 evidence: %v", py.Evidence)
	}
	if _, ok := got["tcp 0.0.0.0:22"][0].Evidence.Lookup("container"); ok {
		t.Error("sshd is not in a container")
	}
	wider := got["tcp 0.0.0.0:10249"][0]
	if !strings.Contains(wider.Message, "allowed only on loopback") {
		t.Errorf("bound-wider message: %q", wider.Message)
	}
}

func TestControlPlaneFixture(t *testing.T) {
	got := byAddr(scanFixture(t, "control-plane", probes.ControlPlane, nil))
	for k, w := range map[string]verdict{
		"tcp [::]:6443":       {finding.Pass, finding.Info, "kube-apiserver", "Allowed listener: kube-apiserver"},
		"tcp 10.0.0.10:2379":  {finding.Pass, finding.Info, "etcd", "Allowed listener: etcd server client API"},
		"tcp 10.0.0.10:2380":  {finding.Pass, finding.Info, "etcd", "Allowed listener: etcd server client API"},
		"tcp 127.0.0.1:2381":  {finding.Pass, finding.Info, "etcd", "Allowed listener: etcd metrics (kubeadm, loopback)"},
		"tcp 127.0.0.1:10259": {finding.Pass, finding.Info, "kube-scheduler", "Allowed listener: kube-scheduler"},
		"tcp 127.0.0.1:10257": {finding.Pass, finding.Info, "kube-controller", "Allowed listener: kube-controller-manager"},
		"tcp 0.0.0.0:10251":   {finding.Fail, finding.Critical, "kube-scheduler", "Forbidden listener: legacy insecure kube-scheduler port"},
		"tcp 0.0.0.0:8080":    {finding.Fail, finding.Critical, "kube-apiserver", "Forbidden listener: insecure kube-apiserver port"},
	} {
		f := got[k][0]
		if f.Status != w.status || f.Severity != w.severity || f.Evidence.Get("process") != w.process || f.Title != w.title {
			t.Errorf("%s: got %s/%s %q %q, want %s/%s %q %q", k, f.Status, f.Severity, f.Evidence.Get("process"), f.Title, w.status, w.severity, w.process, w.title)
		}
	}
	// The same sockets judged as a worker: etcd on a node address is forbidden.
	asWorker := byAddr(scanFixture(t, "control-plane", probes.Worker, nil))
	if f := asWorker["tcp 10.0.0.10:2379"][0]; f.Severity != finding.Critical {
		t.Errorf("etcd on a worker: %s/%s", f.Status, f.Severity)
	}
	if f := asWorker["tcp 127.0.0.1:2379"][0]; f.Severity == finding.Critical {
		t.Errorf("etcd on loopback of a worker is not the known-bad case: %s", f.Title)
	}
}

func TestBrokenFixture(t *testing.T) {
	fs := scanFixture(t, "broken", probes.Worker, nil)
	var sockErr *finding.Finding
	listeners := 0
	for i := range fs {
		switch fs[i].ID {
		case IDSockets:
			sockErr = &fs[i]
		case IDListener:
			listeners++
		}
	}
	if sockErr == nil || sockErr.Status != finding.Error {
		t.Fatalf("want an error finding for the malformed tables, got %+v", fs)
	}
	for _, want := range []string{"/proc/net/tcp line 3", "/proc/net/udp line 3", "ZZZZZZZZ"} {
		if !strings.Contains(sockErr.Message, want) {
			t.Errorf("error message %q does not mention %q", sockErr.Message, want)
		}
	}
	if strings.Contains(sockErr.Message, "tcp6") {
		t.Errorf("a missing tcp6 table (IPv6 off) is not an error: %s", sockErr.Message)
	}
	// The good rows before each bad one are still reported.
	if listeners != 2 {
		t.Errorf("%d listeners, want 2 (the rows before the malformed ones)", listeners)
	}
}

func TestPolicyAllowAndStrictness(t *testing.T) {
	pol, err := policy.Parse([]byte(`
ports:
  allow:
    - {description: app on python, roles: [worker], protocol: tcp, ports: 8081, processes: [python3]}
    - {description: metrics, protocol: tcp, ports: "9000-9100", addresses: ["0.0.0.0/0"]}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	got := byAddr(scanFixture(t, "worker", probes.Worker, pol))
	if f := got["tcp 0.0.0.0:8081"][0]; f.Status != finding.Pass || f.Evidence.Get("rule") != "app on python" {
		t.Errorf("user allow rule: %s %s", f.Status, f.Title)
	}
	if f := got["tcp 0.0.0.0:9000"][0]; f.Status != finding.Pass {
		t.Errorf("CIDR allow rule: %s %s", f.Status, f.Title)
	}
	// Defaults are kept when the user only adds rules.
	if f := got["tcp 0.0.0.0:10255"][0]; f.Severity != finding.Critical {
		t.Errorf("forbidden default lost: %s", f.Title)
	}
	for doc, want := range map[string]string{
		"ports: {allow: [{protocol: tcp, ports: 80, proces: [x]}]}": `unknown field "proces"`,
		"ports: {alow: []}": `unknown field "alow"`,
		"port: {}":          `unknown section "port"`,
		"ports: {allow: [{protocol: sctp, ports: 80}]}":                  `protocol "sctp"`,
		"ports: {allow: [{protocol: tcp, ports: 90-80}]}":                `"90-80" is not a port`,
		"ports: {allow: [{protocol: tcp, ports: 80, addresses: [lan]}]}": `address "lan"`,
		"ports: {allow: [{protocol: tcp, ports: 80, roles: [master]}]}":  `role "master"`,
		"ports: {unexpectedSeverity: urgent}":                            `"urgent"`,
		"ports: [":                                                       "policy test",
	} {
		_, err := policy.Parse([]byte(doc), "test")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %s", doc, err, want)
		}
	}
}

func TestRescanReusesOwnersOnlyWhenUnchanged(t *testing.T) {
	root, err := hostfs.Open("testdata/worker")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	p := &Probe{}
	first := p.Run(context.Background(), env)
	cached := p.cache
	second := p.Run(context.Background(), env)
	if p.cache != cached {
		t.Fatal("an unchanged socket set must reuse the owner walk")
	}
	if len(first) != len(second) {
		t.Fatalf("rescan changed the findings: %d vs %d", len(first), len(second))
	}
	// Same sockets, another role: the verdicts must be judged again.
	env.Role = probes.ControlPlane
	asCP := byAddr(p.Run(context.Background(), env))
	if f := asCP["tcp 10.0.0.5:2379"][0]; f.Status != finding.Pass {
		t.Fatalf("cached verdicts survived a role change: %s", f.Title)
	}
	env.Role = probes.Worker
	if f := byAddr(p.Run(context.Background(), env))["tcp 10.0.0.5:2379"][0]; f.Severity != finding.Critical {
		t.Fatalf("verdicts after switching back: %s", f.Title)
	}
	// A pid whose start time changed is another process: walk again.
	for _, proc := range p.cache.procs {
		proc.startTime = "1"
		break
	}
	p.Run(context.Background(), env)
	if p.cache == cached {
		t.Fatal("a reused pid must invalidate the cache")
	}
}

func keys(m map[string][]finding.Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
