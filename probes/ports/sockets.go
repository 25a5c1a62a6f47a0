package ports

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Socket is one listening TCP or bound UDP socket from /proc/net.
type Socket struct {
	Protocol string // "tcp" or "udp"
	Addr     netip.Addr
	Port     uint16
	Inode    uint64
}

// Kernel socket states as printed in /proc/net/{tcp,udp}: ss -l shows TCP in
// LISTEN and UDP in CLOSE (ss calls it UNCONN).
const (
	stateListen = "0A"
	stateClose  = "07"
)

type table struct {
	file     string
	protocol string
	state    string
}

var tables = []table{
	{"tcp", "tcp", stateListen},
	{"tcp6", "tcp", stateListen},
	{"udp", "udp", stateClose},
	{"udp6", "udp", stateClose},
}

// netDir picks the host's network namespace: /proc/1/net is init's, which is
// the host's even when the agent runs in a pod network; /proc/net (the
// reader's own) is the fallback when init's cannot be read.
func netDir(root *hostfs.Root) string {
	if _, err := root.Stat("/proc/1/net/tcp"); err == nil {
		return "/proc/1/net"
	}
	return "/proc/net"
}

// readSockets reads every table; a missing tcp6/udp6 (IPv6 disabled) is not an error.
func readSockets(root *hostfs.Root, dir string) ([]Socket, error) {
	var out []Socket
	var errs []error
	for _, t := range tables {
		name := dir + "/" + t.file
		var perr error
		lineNo := 0
		err := root.Lines(name, func(line []byte) bool {
			lineNo++
			if lineNo == 1 {
				return true // header
			}
			s, ok, err := parseLine(line, t.protocol, t.state)
			if err != nil {
				perr = fmt.Errorf("%s line %d: %w", name, lineNo, err)
				return false
			}
			if ok {
				out = append(out, s)
			}
			return true
		})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (t.file == "tcp6" || t.file == "udp6") {
				continue
			}
			errs = append(errs, err)
			continue
		}
		if perr != nil {
			errs = append(errs, perr)
		}
	}
	return out, errors.Join(errs...)
}

// parseLine parses one /proc/net/{tcp,udp}[6] row:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// It returns ok=false for rows in other states.
func parseLine(line []byte, protocol, wantState string) (Socket, bool, error) {
	// Split by hand: this runs once per socket, and bytes.Fields allocates.
	var f [10][]byte
	n := 0
	for i := 0; i < len(line) && n < len(f); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if i > start {
			f[n] = line[start:i]
			n++
		}
	}
	if n < 10 {
		return Socket{}, false, fmt.Errorf("want at least 10 fields, got %d", n)
	}
	if string(f[3]) != wantState {
		return Socket{}, false, nil
	}
	addr, port, err := parseHexAddrPort(f[1])
	if err != nil {
		return Socket{}, false, err
	}
	inode, err := strconv.ParseUint(string(f[9]), 10, 64)
	if err != nil {
		return Socket{}, false, fmt.Errorf("inode %q: %w", f[9], err)
	}
	return Socket{Protocol: protocol, Addr: addr, Port: port, Inode: inode}, true, nil
}

// parseHexAddrPort decodes "0100007F:0CEA". The address is printed as 32-bit
// words in the kernel's byte order (little-endian on every platform nodeguard
// ships for); the port is big-endian hex.
func parseHexAddrPort(b []byte) (netip.Addr, uint16, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.Addr{}, 0, fmt.Errorf("address %q: no port", b)
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	p, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port %q: %w", hexPort, err)
	}
	var raw [16]byte
	switch len(hexAddr) {
	case 8, 32:
	default:
		return netip.Addr{}, 0, fmt.Errorf("address %q: want 8 or 32 hex digits", hexAddr)
	}
	n, err := hex.Decode(raw[:], hexAddr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("address %q: %w", hexAddr, err)
	}
	for w := 0; w < n; w += 4 {
		binary.BigEndian.PutUint32(raw[w:], binary.LittleEndian.Uint32(raw[w:]))
	}
	if n == 4 {
		return netip.AddrFrom4([4]byte(raw[:4])), uint16(p), nil
	}
	return netip.AddrFrom16(raw), uint16(p), nil
}
