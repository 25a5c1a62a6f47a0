package anomaly

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Layout of struct event in bpf/runtime.c.
const (
	commSize    = 16
	cgroupSize  = 128
	pathSize    = 256
	argsSize    = 256
	rawHeader   = 8 + 8 + 12*4 + 16
	EventSize   = rawHeader + 2*commSize + cgroupSize + pathSize + argsSize
	maxArgCount = 64
)

// Kinds of raw event: the hook that produced it.
const (
	kindExec    = 1
	kindSyscall = 2
	kindListen  = 3
	kindModule  = 4
)

// Flags of a raw event.
const (
	flagInContainer   = 1 << 0
	flagDeleted       = 1 << 1
	flagMemfd         = 1 << 2
	flagPathTruncated = 1 << 3
	flagCgroupV1      = 1 << 4
	// The simple variant's: container membership and the path left to
	// user space.
	flagContainerUnknown = 1 << 5
	flagPathFromName     = 1 << 6
)

// raw is struct event as the kernel wrote it.
type raw struct {
	TsNs       uint64
	CgroupID   uint64
	Kind       uint32
	Rules      uint32
	Flags      uint32
	PID, TID   uint32
	PPID       uint32
	UID, EUID  uint32
	Nr         uint32
	Arg0, Arg1 uint32
	Arg2       uint32
	Addr       [16]byte
	Comm       string
	ParentComm string
	Cgroup     string
	Path       string
	Args       []string
	ArgsCut    bool
}

// decodeRaw parses one ring buffer record. Records come from our own
// program, but a record of the wrong size (an object from another build)
// must fail cleanly rather than be misread.
func decodeRaw(b []byte) (raw, error) {
	var r raw
	if len(b) != EventSize {
		return r, fmt.Errorf("runtime: event of %d bytes, want %d (BPF object and agent from different builds?)", len(b), EventSize)
	}
	le := binary.LittleEndian
	r.TsNs = le.Uint64(b[0:])
	r.CgroupID = le.Uint64(b[8:])
	u := func(i int) uint32 { return le.Uint32(b[16+4*i:]) }
	r.Kind, r.Rules, r.Flags = u(0), u(1), u(2)
	r.PID, r.TID, r.PPID = u(3), u(4), u(5)
	r.UID, r.EUID = u(6), u(7)
	r.Nr, r.Arg0, r.Arg1, r.Arg2 = u(8), u(9), u(10), u(11)
	copy(r.Addr[:], b[64:80])
	off := rawHeader
	field := func(n int) []byte { f := b[off : off+n]; off += n; return f }
	r.Comm = cstring(field(commSize))
	r.ParentComm = cstring(field(commSize))
	r.Cgroup = cstring(field(cgroupSize))
	r.Path = cstring(field(pathSize))
	args := field(argsSize)
	if r.Kind == kindExec {
		n := int(r.Arg0)
		if n > argsSize {
			n = argsSize
		}
		r.Args, r.ArgsCut = splitArgs(args[:n], n == argsSize)
	}
	if r.Kind < kindExec || r.Kind > kindModule {
		return r, fmt.Errorf("runtime: event of unknown kind %d", r.Kind)
	}
	return r, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// splitArgs splits the NUL-separated argv the kernel copied. full means the
// copy filled the buffer, so the last argument may be cut short.
func splitArgs(b []byte, full bool) ([]string, bool) {
	cut := full && (len(b) == 0 || b[len(b)-1] != 0)
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, cut
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) > maxArgCount {
		parts, cut = parts[:maxArgCount], true
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(bytes.ToValidUTF8(p, []byte("\uFFFD")))
	}
	return out, cut
}

// Process is one process of an event's ancestry.
type Process struct {
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
	Exe  string `json:"exe,omitempty"`
}

// Event is one rule match, attributed.
type Event struct {
	Time        time.Time        `json:"time"`
	Rule        string           `json:"rule"`
	Severity    finding.Severity `json:"severity"`
	Description string           `json:"description"`
	Message     string           `json:"message"`

	PID        uint32    `json:"pid"`
	TID        uint32    `json:"tid"`
	PPID       uint32    `json:"ppid"`
	UID        uint32    `json:"uid"`
	EUID       uint32    `json:"euid"`
	Comm       string    `json:"comm"`
	ParentComm string    `json:"parentComm,omitempty"`
	Exe        string    `json:"exe,omitempty"`
	Args       []string  `json:"args,omitempty"`
	ArgsCut    bool      `json:"argsTruncated,omitempty"`
	Ancestors  []Process `json:"ancestors,omitempty"`

	CgroupID      uint64 `json:"cgroupId,omitempty"`
	Cgroup        string `json:"cgroup,omitempty"`
	ContainerID   string `json:"containerId,omitempty"`
	Runtime       string `json:"containerRuntime,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	Pod           string `json:"pod,omitempty"`
	ContainerName string `json:"container,omitempty"`

	// Rule-specific details: the file or path involved, the syscall, the
	// listener, the ptrace target.
	Path    string            `json:"path,omitempty"`
	Syscall string            `json:"syscall,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// Key is what Kubernetes events are rate-limited by: the rule and the
// container (or the host).
func (e *Event) Key() string {
	if e.ContainerID != "" {
		return e.Rule + "/" + e.ContainerID
	}
	return e.Rule + "/host"
}

// listenAddr returns the listener's address and its protocol as the event
// reports it: tcp, tcp6, udp or udp6. The kernel hook sends TCP listens
// today, but Arg2 carries the socket's protocol, so a UDP socket is never
// judged by the TCP rules.
func listenAddr(r *raw) (netip.Addr, string) {
	const afInet, afInet6 = 2, 10
	const ipprotoUDP = 17
	proto := "tcp"
	if r.Arg2 == ipprotoUDP {
		proto = "udp"
	}
	switch r.Arg1 {
	case afInet:
		return netip.AddrFrom4([4]byte(r.Addr[:4])), proto
	case afInet6:
		return netip.AddrFrom16(r.Addr), proto + "6"
	}
	return netip.Addr{}, proto
}

func ptraceRequest(req uint32) string {
	switch req {
	case 4:
		return "PTRACE_POKETEXT"
	case 5:
		return "PTRACE_POKEDATA"
	case 6:
		return "PTRACE_POKEUSER"
	case 16:
		return "PTRACE_ATTACH"
	case 0x4206:
		return "PTRACE_SEIZE"
	}
	return strconv.FormatUint(uint64(req), 10)
}

func uidArg(v uint32) string {
	if v == ^uint32(0) {
		return "-1"
	}
	return strconv.FormatUint(uint64(v), 10)
}
