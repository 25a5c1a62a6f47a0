package anomaly

import "golang.org/x/sys/unix"

// syscallNumbers are the numbers the BPF programs compare against; -1 marks
// a syscall this architecture lacks.
var syscallNumbers = map[string]int32{
	"open": unix.SYS_OPEN, "openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2, "creat": unix.SYS_CREAT,
	"ptrace": unix.SYS_PTRACE, "setuid": unix.SYS_SETUID, "setreuid": unix.SYS_SETREUID, "setresuid": unix.SYS_SETRESUID,
	"setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE, "mount": unix.SYS_MOUNT, "move_mount": unix.SYS_MOVE_MOUNT,
	"fsmount": unix.SYS_FSMOUNT, "bpf": unix.SYS_BPF,
}

// argOffsets are the byte offsets of the first four syscall arguments in the
// user struct pt_regs (di, si, dx, r10): a fixed ABI.
var argOffsets = [4]uint32{14 * 8, 13 * 8, 12 * 8, 7 * 8}
