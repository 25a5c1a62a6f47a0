package ports

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// The kernel's sock_diag interface (what ss uses) returns only the sockets in
// the requested states, as binary records, where /proc/net/tcp formats every
// socket of every state as text. It answers for the agent's own network
// namespace only, so it is used when that is the host's.

const (
	sizeofNlmsghdr          = 16
	sizeofInetDiagReq       = 56
	sizeofInetDiagReqCompat = 60
	sizeofInetDiagMsg       = 72
	tcpListenState          = 10 // TCP_LISTEN
	tcpCloseState           = 7  // TCP_CLOSE: an unconnected UDP socket
	netlinkRecvBufSize      = 1 << 16
)

// sameNetNS reports whether the agent shares the network namespace of the
// host's init. When the host does not let us see init's namespace (as in some
// sandboxes), the answer is yes only for --host-root /, where the agent runs
// on the host itself.
func sameNetNS(root *hostfs.Root) bool {
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return false
	}
	host, err := root.Readlink("/proc/1/ns/net")
	if err != nil {
		return root.Path() == "/"
	}
	return host == self
}

// maxCountHint bounds socketCountHint: a node with more sockets than this
// grows its list by doubling, not by zeroing a larger one on every scan.
const maxCountHint = 1 << 16

// socketCountHint is how many TCP and UDP sockets of both families the
// kernel counts in the agent's network namespace (HOSTROOT/proc/net/sockstat
// and sockstat6, absent when IPv6 is disabled), at most maxCountHint, or 0
// when unknown. Every socket the
// dumps return is among them: they are read once to size the list, where
// growing it would copy 10,000 listeners three times over.
func socketCountHint(root *hostfs.Root) int {
	n := 0
	for _, name := range []string{"/proc/net/sockstat", "/proc/net/sockstat6"} {
		b, err := root.ReadFileLimit(name, 4096)
		if errors.Is(err, fs.ErrNotExist) && name == "/proc/net/sockstat6" {
			continue // IPv6 disabled: no sockets to count
		}
		if err != nil {
			return 0
		}
		for line := range bytes.Lines(b) {
			f := bytes.Fields(line)
			switch {
			case len(f) < 3 || string(f[1]) != "inuse":
				continue
			case string(f[0]) == "TCP:", string(f[0]) == "UDP:", string(f[0]) == "TCP6:", string(f[0]) == "UDP6:":
				v, err := strconv.Atoi(string(f[2]))
				if err != nil || v < 0 {
					return 0
				}
				n += v
			}
		}
	}
	return min(n, maxCountHint)
}

// diagSockets dumps listening TCP and unconnected UDP sockets of both families.
// capacity is a guess at the number of sockets, to grow the list once.
func diagSockets(capacity int) ([]Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	d := &diagDump{fd: fd, buf: make([]byte, netlinkRecvBufSize), out: make([]Socket, 0, capacity)}
	// TCP of both families in one walk of the listening hash: the older
	// TCPDIAG_GETSOCK request dumps every family at once, where
	// SOCK_DIAG_BY_FAMILY walks the whole table once per family. On a node
	// with thousands of listeners that second walk is a tenth of the scan.
	tcp := diagQuery{msgType: tcpDiagGetSock, proto: unix.IPPROTO_TCP, state: tcpListenState, name: "tcp"}
	if err := d.dump(tcp); err != nil {
		// A kernel without the older request: one dump per family.
		tcp.msgType = unix.SOCK_DIAG_BY_FAMILY
		for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
			tcp.family = family
			if err := d.dump(tcp); err != nil {
				return nil, err
			}
		}
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		udp := diagQuery{msgType: unix.SOCK_DIAG_BY_FAMILY, family: family, proto: unix.IPPROTO_UDP, state: tcpCloseState, name: "udp"}
		if err := d.dump(udp); err != nil {
			return nil, err
		}
	}
	return d.out, nil
}

// tcpDiagGetSock is TCPDIAG_GETSOCK, the request of struct inet_diag_req.
const tcpDiagGetSock = 18

// diagQuery is one dump: a request type, the family (none for
// TCPDIAG_GETSOCK, which dumps all), the protocol and the socket state.
type diagQuery struct {
	msgType       uint16
	family, proto uint8
	state         uint32
	name          string
}

// diagDump runs dumps on one netlink socket and gathers their sockets.
type diagDump struct {
	fd  int
	seq uint32
	buf []byte
	out []Socket
}

func (d *diagDump) dump(q diagQuery) error {
	n := len(d.out)
	var err error
	// A dump that the kernel marks interrupted (the table changed while it
	// was being walked) may have skipped sockets: take it again.
	for try := 0; try < 3; try++ {
		d.out = d.out[:n]
		d.seq++
		if err = sendDiagReq(d.fd, d.seq, q); err != nil {
			return err
		}
		var intr bool
		var got []Socket
		got, intr, err = recvDiag(d.fd, d.seq, d.buf, q, d.out)
		if err != nil {
			break
		}
		d.out = got
		if !intr {
			break
		}
	}
	if err != nil {
		d.out = d.out[:n]
		if errors.Is(err, unix.ENOENT) && q.family == unix.AF_INET6 {
			return nil // IPv6 disabled
		}
	}
	return err
}

func sendDiagReq(fd int, seq uint32, q diagQuery) error {
	var req [sizeofNlmsghdr + sizeofInetDiagReqCompat]byte
	size := sizeofNlmsghdr + sizeofInetDiagReq
	ne := binary.NativeEndian
	r := req[sizeofNlmsghdr:]
	if q.msgType == tcpDiagGetSock {
		// struct inet_diag_req: family, lengths, ext, the 48-byte id, states.
		size = len(req)
		ne.PutUint32(r[52:], 1<<q.state)
	} else {
		// struct inet_diag_req_v2: family, protocol, ext, pad, states, id.
		r[0], r[1] = q.family, q.proto
		ne.PutUint32(r[4:], 1<<q.state)
	}
	ne.PutUint32(req[0:], uint32(size))
	ne.PutUint16(req[4:], q.msgType)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	if err := unix.Sendto(fd, req[:size], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	return nil
}

func recvDiag(fd int, seq uint32, buf []byte, q diagQuery, out []Socket) (_ []Socket, interrupted bool, _ error) {
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("sock_diag: %w", err)
		}
		for b := buf[:n]; len(b) >= sizeofNlmsghdr; {
			l := int(ne.Uint32(b[0:]))
			if l < sizeofNlmsghdr || l > len(b) {
				return nil, false, fmt.Errorf("sock_diag: malformed message of %d bytes", l)
			}
			typ, flags, mseq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
			msg := b[sizeofNlmsghdr:l]
			b = b[min(nlmAlign(l), len(b)):]
			if mseq != seq {
				continue
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				return out, interrupted, nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if errno := int32(ne.Uint32(msg)); errno != 0 {
						return nil, false, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
					}
				}
				return out, interrupted, nil
			case q.msgType:
				s, err := parseDiagMsg(msg, q.name)
				if err != nil {
					return nil, false, err
				}
				if len(out) == cap(out) {
					// Doubling: append grows a large slice by a quarter,
					// which for 10,000 sockets copies them 5 times over.
					out = slices.Grow(out, max(len(out), 64))
				}
				out = append(out, s)
			}
		}
	}
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// parseDiagMsg decodes struct inet_diag_msg.
func parseDiagMsg(m []byte, protocol string) (Socket, error) {
	if len(m) < sizeofInetDiagMsg {
		return Socket{}, fmt.Errorf("sock_diag: short record of %d bytes", len(m))
	}
	family := m[0]
	id := m[4:52]
	port := binary.BigEndian.Uint16(id[0:])
	var a netip.Addr
	switch family {
	case unix.AF_INET:
		a = netip.AddrFrom4([4]byte(id[4:8]))
	case unix.AF_INET6:
		a = netip.AddrFrom16([16]byte(id[4:20]))
	default:
		return Socket{}, fmt.Errorf("sock_diag: unknown family %d", family)
	}
	inode := binary.NativeEndian.Uint32(m[68:72])
	return Socket{Protocol: protocol, Addr: a, Port: port, Inode: uint64(inode)}, nil
}
