package anomaly

import "golang.org/x/sys/unix"

// syscallNumbers are the numbers the BPF programs compare against; -1 marks
// a syscall this architecture lacks (arm64 has no open or creat).
var syscallNumbers = map[string]int32{
	"open": -1, "openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2, "creat": -1,
	"ptrace": unix.SYS_PTRACE, "setuid": unix.SYS_SETUID, "setreuid": unix.SYS_SETREUID, "setresuid": unix.SYS_SETRESUID,
	"setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE, "mount": unix.SYS_MOUNT, "move_mount": unix.SYS_MOVE_MOUNT,
	"fsmount": unix.SYS_FSMOUNT, "bpf": unix.SYS_BPF,
}

// argOffsets: struct pt_regs begins with regs[31]; x0-x3 hold the arguments.
var argOffsets = [4]uint32{0, 8, 16, 24}
