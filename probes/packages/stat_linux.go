package packages

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

func statIDs(fi fs.FileInfo) ([2]int64, bool) {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return [2]int64{int64(st.Dev), int64(st.Ino)}, true
	case *unix.Stat_t:
		return [2]int64{int64(st.Dev), int64(st.Ino)}, true
	}
	return [2]int64{}, false
}
