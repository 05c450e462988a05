package spool

import (
	"slices"
	"strings"
)

// Stats is a snapshot of the spool's counters. Counters count since Open.
type Stats struct {
	RecordsAppended uint64 // records appended
	BytesAppended   uint64 // payload bytes appended
	// BytesWritten counts every byte this process wrote into the spool
	// directory: frames, segment headers, cursor slots and quarantine
	// lines. BytesWritten/BytesAppended is the spool's write amplification.
	BytesWritten uint64
	Syncs        uint64 // fsync calls (segments, directory, cursors, quarantine)
	SyncErrors   uint64 // failed syncs (retried at the next interval)
	AppendErrors uint64 // failed appends (for example a full disk)

	Segments  int    // segment files on disk
	DiskBytes int64  // their total size
	MaxBytes  int64  // the configured bound on DiskBytes
	FirstSeq  uint64 // oldest stored seq (equals NextSeq when empty)
	NextSeq   uint64 // seq the next append gets
	SyncedSeq uint64 // newest seq known to be on disk (visible to cursors)

	// DroppedFull and DroppedAge count records deleted by the byte and the
	// age limit before every open cursor had acknowledged them.
	DroppedFull, DroppedAge uint64
	CorruptSkipped          uint64 // corrupt regions skipped by cursors (each counted once)
	CorruptBytes            uint64 // bytes in those regions
	TornTails               uint64 // torn tails truncated by Open
	TornBytes               uint64 // bytes truncated
	Quarantined             uint64 // records written to the quarantine file

	Cursors []CursorStats // sorted by name
}

// CursorStats describes one cursor.
type CursorStats struct {
	Name      string
	Acked     uint64 // newest acknowledged seq
	Persisted uint64 // newest acknowledged seq on disk
	// Depth is the number of stored records not yet acknowledged; DepthBytes
	// estimates their size on disk from the average frame size.
	Depth      uint64
	DepthBytes int64
	Dropped    uint64 // records dropped (full, age) before this cursor read them
	Corrupt    uint64 // corrupt regions this cursor skipped
}

// Stats returns a snapshot of the counters.
func (s *Spool) Stats() Stats {
	st := Stats{
		RecordsAppended: s.st.records.Load(),
		BytesAppended:   s.st.payload.Load(),
		BytesWritten:    s.st.written.Load(),
		Syncs:           s.st.syncs.Load(),
		SyncErrors:      s.st.syncErrors.Load(),
		AppendErrors:    s.st.appendErrors.Load(),
		DroppedFull:     s.st.droppedFull.Load(),
		DroppedAge:      s.st.droppedAge.Load(),
		CorruptSkipped:  s.st.corrupt.Load(),
		CorruptBytes:    s.st.corruptBytes.Load(),
		TornTails:       s.st.tornTails.Load(),
		TornBytes:       s.st.tornBytes.Load(),
		Quarantined:     s.st.quarantined.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Segments, st.DiskBytes, st.MaxBytes = len(s.segs), s.diskBytes, s.opts.MaxBytes
	st.FirstSeq, st.NextSeq, st.SyncedSeq = s.segs[0].base, s.next, s.syncedSeq
	stored := s.next - s.segs[0].base
	for _, c := range s.cursors {
		cs := CursorStats{Name: c.name, Acked: c.acked, Persisted: c.persisted, Dropped: c.dropped, Corrupt: c.corrupt}
		from := max(c.acked+1, s.segs[0].base)
		if s.next > from {
			cs.Depth = s.next - from
		}
		if stored > 0 {
			cs.DepthBytes = int64(float64(s.diskBytes) * float64(cs.Depth) / float64(stored))
		}
		st.Cursors = append(st.Cursors, cs)
	}
	slices.SortFunc(st.Cursors, func(a, b CursorStats) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// Stats returns this cursor's entry of Spool.Stats.
func (c *Cursor) Stats() CursorStats {
	for _, cs := range c.s.Stats().Cursors {
		if cs.Name == c.name {
			return cs
		}
	}
	return CursorStats{Name: c.name}
}
