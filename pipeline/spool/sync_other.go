//go:build !linux

package spool

import (
	"fmt"
	"os"
	"path/filepath"
)

// datasync is fsync where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }

// lockDir creates dir/LOCK; without flock it does not exclude other
// processes.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	return f, nil
}

// lockFile creates path; without flock it does not exclude other processes.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Locked cannot tell without flock: it reports false.
func Locked(string) (bool, error) { return false, nil }

// fileOwner is not known here.
func fileOwner(os.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
