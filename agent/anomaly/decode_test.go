package anomaly

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/bpf"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
)

// rawEvent builds a record as the kernel lays it out.
func rawEvent(kind, rules, flags uint32, comm, cgroup, path string, args []byte, a0, a1, a2 uint32) []byte {
	b := make([]byte, EventSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 1e9)
	le.PutUint64(b[8:], 77)
	for i, v := range []uint32{kind, rules, flags, 100, 101, 1, 1000, 0, 0, a0, a1, a2} {
		le.PutUint32(b[16+4*i:], v)
	}
	copy(b[64:], []byte{127, 0, 0, 1})
	off := rawHeader
	copy(b[off:off+commSize], comm)
	copy(b[off+commSize:off+2*commSize], "bash")
	copy(b[off+2*commSize:], cgroup)
	copy(b[off+2*commSize+cgroupSize:], path)
	copy(b[off+2*commSize+cgroupSize+pathSize:], args)
	return b
}

func TestEventSizeMatchesObject(t *testing.T) {
	spec, err := bpf.LoadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	if err := spec.Variables["event_size"].Get(&n); err != nil {
		t.Fatal(err)
	}
	if n != EventSize {
		t.Fatalf("struct event is %d bytes in the object, decoder expects %d", n, EventSize)
	}
}

func TestDecodeExec(t *testing.T) {
	args := []byte("/tmp/x\x00-a\x00b c\x00")
	b := rawEvent(kindExec, 1<<ExecFromWritableDir, flagDeleted, "x", "", "/tmp/x", args, uint32(len(args)), 0, 0)
	r, err := decodeRaw(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Comm != "x" || r.ParentComm != "bash" || r.Path != "/tmp/x" || r.PID != 100 || r.PPID != 1 || r.UID != 1000 || r.CgroupID != 77 {
		t.Fatalf("decoded %+v", r)
	}
	if strings.Join(r.Args, "|") != "/tmp/x|-a|b c" || r.ArgsCut {
		t.Fatalf("args %q cut=%v", r.Args, r.ArgsCut)
	}
}

func TestDecodeTruncatedArgs(t *testing.T) {
	long := []byte(strings.Repeat("a", argsSize))
	r, err := decodeRaw(rawEvent(kindExec, 1, 0, "x", "", "/x", long, argsSize, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !r.ArgsCut || len(r.Args) != 1 || len(r.Args[0]) != argsSize {
		t.Fatalf("args %d cut=%v", len(r.Args), r.ArgsCut)
	}
	// A length beyond the buffer (a corrupt record) is clamped, not trusted.
	r, err = decodeRaw(rawEvent(kindExec, 1, 0, "x", "", "/x", long, 1<<30, 0, 0))
	if err != nil || len(r.Args[0]) != argsSize {
		t.Fatalf("oversized length: %v %d", err, len(r.Args))
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	if _, err := decodeRaw(make([]byte, EventSize-1)); err == nil {
		t.Error("short record accepted")
	}
	if _, err := decodeRaw(make([]byte, EventSize+8)); err == nil {
		t.Error("long record accepted")
	}
	if _, err := decodeRaw(rawEvent(99, 1, 0, "x", "", "", nil, 0, 0, 0)); err == nil {
		t.Error("unknown kind accepted")
	}
	// Invalid UTF-8 in a comm is replaced, not passed on to JSON.
	r, err := decodeRaw(rawEvent(kindSyscall, 1, 0, "a\xffb", "", "", nil, 0, 0, 0))
	if err != nil || r.Comm != "a\uFFFDb" {
		t.Errorf("comm %q %v", r.Comm, err)
	}
}

func TestParseContainerID(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct{ in, runtime, id string }{
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope", "containerd", id},
		{"cri-containerd-" + id + ".scope", "containerd", id},
		{"/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope", "cri-o", id},
		{"/system.slice/docker-" + id + ".scope", "docker", id},
		{"/machine.slice/libpod-" + id + ".scope/container", "podman", id},
		{"/kubepods/burstable/pod1/" + id, "containerd", id},
		{"/docker/" + id, "docker", id},
		{"/kubepods.slice/crio-" + id + ".scope/nested/child", "cri-o", id},
	} {
		rt, got, ok := ParseContainerID(c.in)
		if !ok || rt != c.runtime || got != c.id {
			t.Errorf("%s: got %q %q %v", c.in, rt, got, ok)
		}
	}
	for _, in := range []string{"", "/", "/system.slice/ssh.service", "crio-conmon-" + id + ".scope", "/kubepods/pod1/" + id[:63], "/x/" + strings.ToUpper(id)} {
		if _, got, ok := ParseContainerID(in); ok {
			t.Errorf("%s: unexpected id %q", in, got)
		}
	}
}

func TestCgroupPathFromProc(t *testing.T) {
	v1 := []string{"12:pids:/kubepods/pod1/abc", "4:memory:/kubepods/pod1/abc", "1:name=systemd:/x", "0::/"}
	if got := cgroupPathFromProc(v1); got != "/kubepods/pod1/abc" {
		t.Errorf("v1: %q", got)
	}
	if got := cgroupPathFromProc([]string{"0::/kubepods.slice/a.scope"}); got != "/kubepods.slice/a.scope" {
		t.Errorf("v2: %q", got)
	}
	if got := cgroupPathFromProc([]string{"garbage", ""}); got != "" {
		t.Errorf("garbage: %q", got)
	}
}

func TestParseStat(t *testing.T) {
	comm, ppid, ok := parseStat([]byte("42 (we) ird) S 7 42 42 0 -1"))
	if !ok || comm != "we) ird" || ppid != 7 {
		t.Errorf("%q %d %v", comm, ppid, ok)
	}
	for _, bad := range []string{"", "42 noparen S 1", "42 (x) S", "42 (x) S notanumber"} {
		if _, _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := policy.Section[Policy](policy.Default(), PolicySection)
	if p.enabledMask() != 1<<numRules-1 {
		t.Errorf("default mask %b", p.enabledMask())
	}
	if a := p.commAllowlist()["sudo"]; a != 1<<SetuidRoot {
		t.Errorf("sudo allow bits %b", a)
	}
	custom, err := policy.Parse([]byte(`runtime:
  rules:
    bpf-load: {enabled: false}
    setuid-root: {severity: critical}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	c := policy.Section[Policy](custom, PolicySection)
	if c.Rule(BPFLoad).IsEnabled() || c.Rule(SetuidRoot).Severity != finding.Critical ||
		len(c.Rule(SetuidRoot).AllowProcesses) == 0 {
		t.Errorf("override lost the defaults or did not apply: %+v", c.Rules.SetuidRoot)
	}
	for _, bad := range []string{
		"runtime: {rules: {ptrace-attach: {severity: urgent}}}",
		"runtime: {sensitivePaths: [etc/shadow]}",
		"runtime: {shells: [a-name-longer-than-15]}",
		"runtime: {rules: {bpf-load: {allowProcesses: [bin/x]}}}",
		"runtime: {rules: {no-such-rule: {}}}",
	} {
		if _, err := policy.Parse([]byte(bad), "test"); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestJudgeListener(t *testing.T) {
	pol := policy.Default()
	j := &judge{
		pol:   policy.Section[Policy](pol, PolicySection),
		ports: policy.Section[ports.Policy](pol, ports.Name),
		role:  func() probes.Role { return probes.Worker },
	}
	listen := func(comm string, port uint32, addr [4]byte) []Event {
		b := rawEvent(kindListen, 1<<UnexpectedListener, 0, comm, "", "", nil, port, 2, 6)
		copy(b[64:], addr[:])
		r, err := decodeRaw(b)
		if err != nil {
			t.Fatal(err)
		}
		return j.events(&r)
	}
	// The kubelet's port on a worker is in the built-in port table.
	if evs := listen("kubelet", 10250, [4]byte{0, 0, 0, 0}); len(evs) != 0 {
		t.Errorf("kubelet 10250 flagged: %+v", evs)
	}
	evs := listen("nc", 4444, [4]byte{0, 0, 0, 0})
	if len(evs) != 1 || evs[0].Rule != "unexpected-listener" || evs[0].Details["port"] != "4444" ||
		evs[0].Details["address"] != "0.0.0.0" || evs[0].Severity != j.ports.UnexpectedSeverity {
		t.Fatalf("nc 4444: %+v", evs)
	}
	if evs := listen("nc", 4444, [4]byte{127, 0, 0, 1}); len(evs) != 1 || evs[0].Severity != j.ports.UnexpectedLoopbackSeverity {
		t.Errorf("loopback severity: %+v", evs)
	}
}

func TestJudgeAllowlists(t *testing.T) {
	pol, err := policy.Parse([]byte(`runtime:
  rules:
    shell-in-container: {allowNamespaces: [debug], allowProcesses: [/usr/bin/allowed-sh]}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	j := &judge{pol: policy.Section[Policy](pol, PolicySection), pods: fakePods{id: {"debug", "p", "c"}}}
	shell := func(path, cg string) []Event {
		r, err := decodeRaw(rawEvent(kindExec, 1<<ShellInContainer, flagInContainer, "sh", cg, path, nil, 0, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		return j.events(&r)
	}
	if evs := shell("/bin/sh", "cri-containerd-"+id+".scope"); len(evs) != 0 {
		t.Errorf("allowed namespace flagged: %+v", evs)
	}
	other := strings.Repeat("cd", 32)
	if evs := shell("/usr/bin/allowed-sh", "crio-"+other+".scope"); len(evs) != 0 {
		t.Errorf("allowed path flagged: %+v", evs)
	}
	evs := shell("/bin/sh", "crio-"+other+".scope")
	if len(evs) != 1 || evs[0].ContainerID != other || evs[0].Runtime != "cri-o" || evs[0].Key() != "shell-in-container/"+other {
		t.Fatalf("shell: %+v", evs)
	}
}

type fakePods map[string][3]string

func (f fakePods) Lookup(id string) (string, string, string, bool) {
	p, ok := f[id]
	return p[0], p[1], p[2], ok
}

func TestCollectorWithoutDetector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(nil, false))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "nodeguard_bpf_rule_active" || len(mfs[0].GetMetric()) != int(numRules) {
		t.Fatalf("gathered %v", mfs)
	}
	for _, m := range mfs[0].GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Errorf("%v active without a detector", m.GetLabel())
		}
	}
}

func TestListenAddr(t *testing.T) {
	r := raw{Arg1: 10}
	r.Addr[15] = 1
	if a, proto := listenAddr(&r); a != netip.IPv6Loopback() || proto != "tcp6" {
		t.Errorf("%v %s", a, proto)
	}
}
