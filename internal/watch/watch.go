// Package watch notices when a file is replaced or rewritten. It polls
// (inode, size, modification time) instead of using inotify, so it sees the
// atomic rename that `stirling calibrate` does, works on every filesystem,
// and survives the file being briefly absent.
package watch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

type state struct {
	exists bool
	ino    uint64
	size   int64
	mod    time.Time
}

func stat(path string) (state, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	s := state{exists: true, size: fi.Size(), mod: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s, nil
}

// File calls changed each time path's identity or content stamp changes,
// checking every interval, until ctx is done. It does not call changed for
// the state found at start, nor while the file is missing. Stat errors other
// than absence are passed to changed's caller through onErr (may be nil).
func File(ctx context.Context, path string, interval time.Duration, changed func(), onErr func(error)) error {
	last, err := stat(path)
	if err != nil && onErr != nil {
		onErr(err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := stat(path)
		if err != nil {
			if onErr != nil {
				onErr(err)
			}
			continue
		}
		if cur != last {
			last = cur
			if cur.exists {
				changed()
			}
		}
	}
}
