package hostfs

import (
	"io/fs"
	"syscall"
)

func ownerSyscall(fi fs.FileInfo) (uid, gid uint32, ok bool) {
	if s, isStat := fi.Sys().(*syscall.Stat_t); isStat {
		return s.Uid, s.Gid, true
	}
	return 0, 0, false
}
