package sockiter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// attach_btf_obj_fd (Linux 5.10 and later accept the shorter struct).
// cilium/ebpf has its own, internal, and it resolves the attach point by
// decoding the whole kernel BTF, the cost this package avoids.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
	progBTFFD          uint32
	funcInfoRecSize    uint32
	funcInfo           uint64
	funcInfoCnt        uint32
	lineInfoRecSize    uint32
	lineInfo           uint64
	lineInfoCnt        uint32
	attachBTFID        uint32
	attachBTFObjFD     uint32
	_                  uint32
}

const (
	bpfProgLoad       = 5  // BPF_PROG_LOAD
	bpfProgTypeTrace  = 26 // BPF_PROG_TYPE_TRACING
	bpfTraceIter      = 28 // BPF_TRACE_ITER
	verifierLogBuffer = 64 << 10
)

// loadProgram loads the iterator for attach point attachBTFID of vmlinux.
// On a verifier refusal it loads once more with the log on, so the error
// says why.
func loadProgram(insns asm.Instructions, attachBTFID uint32) (*ebpf.Program, error) {
	var code bytes.Buffer
	if err := insns.Marshal(&code, nativeOrder()); err != nil {
		return nil, fmt.Errorf("assembling the socket iterator: %w", err)
	}
	fd, err := progLoad(code.Bytes(), attachBTFID, nil)
	if err == unix.EACCES || err == unix.EINVAL {
		log := make([]byte, verifierLogBuffer)
		if _, err2 := progLoad(code.Bytes(), attachBTFID, log); err2 != nil {
			if i := bytes.IndexByte(log, 0); i >= 0 {
				log = log[:i]
			}
			return nil, fmt.Errorf("loading the socket iterator: %w: %s", err, bytes.TrimSpace(lastLines(log, 6)))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading the socket iterator: %w", err)
	}
	prog, err := ebpf.NewProgramFromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return prog, nil
}

func progLoad(code []byte, attachBTFID uint32, log []byte) (int, error) {
	license := []byte("GPL\x00") // bpf_probe_read_kernel is GPL-only
	attr := progLoadAttr{
		progType:           bpfProgTypeTrace,
		insnCnt:            uint32(len(code) / asm.InstructionSize),
		insns:              uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:            uint64(uintptr(unsafe.Pointer(&license[0]))),
		expectedAttachType: bpfTraceIter,
		attachBTFID:        attachBTFID,
	}
	copy(attr.progName[:], "nodeguard_sock")
	if len(log) > 0 {
		attr.logLevel = 1
		attr.logSize = uint32(len(log))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
	}
	for try := 0; ; try++ {
		fd, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgLoad, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(log)
		if (errno == unix.EAGAIN || errno == unix.EINTR) && try < 5 {
			continue // the verifier was interrupted
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

func lastLines(b []byte, n int) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// nativeOrder is binary.NativeEndian as one of the two values asm accepts.
func nativeOrder() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}
