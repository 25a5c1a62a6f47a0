// Package identity is how the light `nodeguard` executable makes itself
// known to the agent's runtime rules: the agent starts it once with Command,
// right after its syscall hook attaches, and its one bpf() call has the
// kernel record its executable (exe_file's inode) as the agent's own, so an
// admin's `nodeguard scan`, whose socket iterator is a BPF program, raises no
// bpf-load event. A copy elsewhere is another file and is reported.
package identity

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Command is the hidden command of the light executable that announces it.
const Command = "bpf-identity"

// Announce makes one bpf() call. What it asks does not matter: the hook
// sees the call on entry, and a refusal is as good as an answer.
func Announce() {
	var attr [16]byte
	_, _, _ = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_GET_NEXT_ID, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
}
