package ports

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// The kernel's sock_diag interface (what ss uses) returns only the sockets in
// the requested states, as binary records, where /proc/net/tcp formats every
// socket of every state as text. It answers for the agent's own network
// namespace only, so it is used when that is the host's.

const (
	sizeofNlmsghdr     = 16
	sizeofInetDiagReq  = 56
	sizeofInetDiagMsg  = 72
	tcpListenState     = 10 // TCP_LISTEN
	tcpCloseState      = 7  // TCP_CLOSE: an unconnected UDP socket
	netlinkRecvBufSize = 1 << 16
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

// diagSockets dumps listening TCP and unconnected UDP sockets of both families.
func diagSockets() ([]Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	var out []Socket
	buf := make([]byte, netlinkRecvBufSize)
	seq := uint32(0)
	for _, q := range []struct {
		family, proto uint8
		state         uint32
		name          string
	}{
		{unix.AF_INET, unix.IPPROTO_TCP, tcpListenState, "tcp"},
		{unix.AF_INET6, unix.IPPROTO_TCP, tcpListenState, "tcp"},
		{unix.AF_INET, unix.IPPROTO_UDP, tcpCloseState, "udp"},
		{unix.AF_INET6, unix.IPPROTO_UDP, tcpCloseState, "udp"},
	} {
		var socks []Socket
		var err error
		// A dump that the kernel marks interrupted (the table changed while
		// it was being walked) may have skipped sockets: take it again.
		for try := 0; try < 3; try++ {
			seq++
			if err = sendDiagReq(fd, seq, q.family, q.proto, q.state); err != nil {
				return nil, err
			}
			var intr bool
			socks, intr, err = recvDiag(fd, seq, buf, q.name)
			if err != nil || !intr {
				break
			}
		}
		if err != nil {
			if errors.Is(err, unix.ENOENT) && q.family == unix.AF_INET6 {
				continue // IPv6 disabled
			}
			return nil, err
		}
		out = append(out, socks...)
	}
	return out, nil
}

func sendDiagReq(fd int, seq uint32, family, proto uint8, state uint32) error {
	var req [sizeofNlmsghdr + sizeofInetDiagReq]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	r := req[sizeofNlmsghdr:]
	r[0], r[1] = family, proto
	ne.PutUint32(r[4:], 1<<state)
	if err := unix.Sendto(fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	return nil
}

func recvDiag(fd int, seq uint32, buf []byte, protocol string) (_ []Socket, interrupted bool, _ error) {
	ne := binary.NativeEndian
	var out []Socket
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
			case unix.SOCK_DIAG_BY_FAMILY:
				s, err := parseDiagMsg(msg, protocol)
				if err != nil {
					return nil, false, err
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
