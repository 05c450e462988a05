//go:build unix

package calibrate

import (
	"io/fs"
	"syscall"
)

func fileOwner(fi fs.FileInfo) [2]int {
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }
