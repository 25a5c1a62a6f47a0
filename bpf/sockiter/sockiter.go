package sockiter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Record is one open socket: the process (by the reader's PID namespace
// numbers), the fd and the socket inode, as /proc/<pid>/fd/<fd> → socket:[ino].
type Record struct {
	PID   uint32
	FD    uint32
	Inode uint64
}

// RecordSize is the size of the record the program writes (see instructions).
const RecordSize = 16

// Iterator is the loaded and attached program; each Read walks every task's
// file table once.
type Iterator struct {
	prog *ebpf.Program
	link *link.Iter
}

// ErrNotPermitted is Open's error without CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN).
var ErrNotPermitted = errors.New("the socket iterator needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN")

// Open loads and attaches the iterator. It needs CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN) and a kernel with BTF and task_file iterators (5.8+).
func Open() (*Iterator, error) {
	// Checked first: reading the kernel's BTF costs a few milliseconds
	// before the kernel can refuse.
	if !permitted() {
		return nil, ErrNotPermitted
	}
	k, release, err := loadKernelBTF()
	if err != nil {
		return nil, err
	}
	l, err := readLayout(k)
	release()
	if err != nil {
		return nil, err
	}
	prog, err := loadProgram(l.instructions(), l.attachBTFID)
	if err != nil {
		return nil, err
	}
	lnk, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attaching the socket iterator: %w", err)
	}
	return &Iterator{prog: prog, link: lnk}, nil
}

// Close detaches and unloads the program.
func (it *Iterator) Close() error {
	return errors.Join(it.link.Close(), it.prog.Close())
}

// Read runs the iterator once and calls fn for every socket fd, in task then
// fd order. A thread with its own file table repeats its process's pid.
func (it *Iterator) Read(fn func(Record)) error {
	r, err := it.link.Open()
	if err != nil {
		return fmt.Errorf("opening the socket iterator: %w", err)
	}
	defer r.Close()
	// The kernel fills at most its seq_file buffer per read and never splits
	// a record across reads, but a partial tail is carried over regardless.
	buf := make([]byte, 64<<10)
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		rest := Decode(buf[:n], fn)
		n = copy(buf, rest)
		if err == io.EOF {
			if n != 0 {
				return fmt.Errorf("socket iterator: %d trailing bytes", n)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the socket iterator: %w", err)
		}
	}
}

// Decode calls fn for every whole record in buf and returns the incomplete
// tail.
func Decode(buf []byte, fn func(Record)) []byte {
	for len(buf) >= RecordSize {
		fn(Record{
			PID:   binary.NativeEndian.Uint32(buf[0:4]),
			FD:    binary.NativeEndian.Uint32(buf[4:8]),
			Inode: binary.NativeEndian.Uint64(buf[8:16]),
		})
		buf = buf[RecordSize:]
	}
	return buf
}

func permitted() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true // let the kernel decide
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	return has(unix.CAP_SYS_ADMIN) || has(unix.CAP_BPF) && has(unix.CAP_PERFMON)
}
