package spool

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Cursor is one publisher's position in the spool. Next and Ack are meant
// for a single consumer goroutine; Stats may be called from anywhere.
type Cursor struct {
	s    *Spool
	name string
	f    *os.File

	// Guarded by s.mu.
	acked     uint64 // newest acknowledged seq
	persisted uint64 // newest acknowledged seq on disk
	gen       uint32 // generation of the newest slot written
	delivered uint64 // newest seq Next returned
	dropped   uint64
	corrupt   uint64

	rmu     sync.Mutex // serialises Next; guards the read state below
	pos     uint64     // seq Next looks for
	rf      *os.File
	r       *reader
	segBase uint64
	off     int64
	expired uint64 // expired records skipped and not yet logged
}

func validCursorName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// readCursorFile returns the newest valid slot of a cursor file.
func readCursorFile(path string) (acked uint64, gen uint32, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	return parseCursor(b)
}

func parseCursor(b []byte) (acked uint64, gen uint32, ok bool) {
	for i := 0; i+slotSize <= len(b) && i < 2*slotSize; i += slotSize {
		if a, g, good := parseSlot(b[i : i+slotSize]); good && (!ok || g > gen) {
			acked, gen, ok = a, g, true
		}
	}
	return acked, gen, ok
}

// Cursor returns the cursor called name (a publisher's name: letters,
// digits, '.', '_', '-'), creating it at the oldest stored record if it is
// new. Calling it twice with one name returns the same cursor. Only the
// cursors opened since Open hold back segment deletion.
func (s *Spool) Cursor(name string) (*Cursor, error) {
	if !validCursorName(name) {
		return nil, fmt.Errorf("%w: %q", ErrCursorName, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if c, ok := s.cursors[name]; ok {
		return c, nil
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name+curSuffix), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: cursor %s: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 2*slotSize))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: cursor %s: %w", name, err)
	}
	acked, gen, ok := parseCursor(b)
	if !ok {
		// A new cursor (or an unreadable file) starts at the oldest record.
		if len(b) > 0 {
			s.log.Warn("cursor file unreadable; starting at the oldest record", "cursor", name)
		}
		acked = s.segs[0].base - 1
	}
	acked = min(acked, s.next-1)
	c := &Cursor{s: s, name: name, f: f, acked: acked, persisted: acked, gen: gen, delivered: acked, pos: acked + 1}
	s.cursors[name] = c
	return c, nil
}

// Name is the cursor's name.
func (c *Cursor) Name() string { return c.name }

// segIndexLocked returns the index of the segment with first seq base, or
// -1.
func (s *Spool) segIndexLocked(base uint64) int {
	for i, seg := range s.segs {
		if seg.base == base {
			return i
		}
	}
	return -1
}

// findLocked returns the index of the segment that holds seq (0 if seq is
// older than every segment).
func (s *Spool) findLocked(seq uint64) int {
	i := len(s.segs) - 1
	for i > 0 && s.segs[i].base > seq {
		i--
	}
	return i
}

func (c *Cursor) closeReader() {
	if c.rf != nil {
		c.rf.Close()
		c.rf, c.r = nil, nil
	}
}

// Next returns the next record after the ones already returned, in seq
// order, waiting (without polling) until one is synced or ctx is done.
// Records dropped by retention before the cursor reached them, and corrupt
// bytes, are skipped, counted and logged. The payload is the caller's.
// After a restart the cursor resumes after its last persisted Ack.
func (c *Cursor) Next(ctx context.Context) (Record, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	s := c.s
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.closeReader()
			return Record{}, ErrClosed
		}
		i := -1
		if c.rf != nil {
			i = s.segIndexLocked(c.segBase)
		}
		if i < 0 {
			c.closeReader()
			if first := s.segs[0].base; c.pos < first {
				gap := first - c.pos
				c.dropped += gap
				s.log.Warn("cursor skipped dropped records", "cursor", c.name,
					"from_seq", c.pos, "to_seq", first-1, "records", gap, "dropped_total", c.dropped)
				c.pos = first
			}
			i = s.findLocked(c.pos)
			f, err := os.Open(s.segPath(s.segs[i].base))
			if err != nil {
				s.mu.Unlock()
				return Record{}, fmt.Errorf("spool: cursor %s: %w", c.name, err)
			}
			c.rf, c.r, c.segBase, c.off = f, newReader(f), s.segs[i].base, headerSize
		}
		seg := s.segs[i]
		active := i == len(s.segs)-1
		limit := seg.size
		if active {
			limit = s.syncedEnd
		}
		if c.off >= limit {
			if !active {
				c.pos = max(c.pos, s.segs[i+1].base)
				c.closeReader()
				s.mu.Unlock()
				continue
			}
			c.logExpiredLocked()
			wait := s.waitLocked()
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return Record{}, ctx.Err()
			case <-wait:
			}
			continue
		}
		hi := s.syncedSeq
		cutoff, expire := s.clk.Now().Add(-s.opts.MaxAge), s.opts.MaxAge >= 0
		s.mu.Unlock()

		fr, ok, err := c.r.frameAt(c.off, limit, maxRecord)
		if err != nil {
			return Record{}, fmt.Errorf("spool: cursor %s: read %s: %w", c.name, segName(seg.base), err)
		}
		if !ok || frameSeq(fr) < seg.base || frameSeq(fr) > hi {
			nxt, err := c.r.resync(c.off, limit, maxRecord, max(c.pos, seg.base), hi)
			if err != nil {
				return Record{}, fmt.Errorf("spool: cursor %s: read %s: %w", c.name, segName(seg.base), err)
			}
			s.reportCorrupt(c, seg.base, c.off, nxt-c.off)
			c.off = nxt
			continue
		}
		c.off += int64(len(fr))
		seq := frameSeq(fr)
		if seq < c.pos {
			continue
		}
		c.pos = seq + 1
		if expire && frameTime(fr).Before(cutoff) {
			c.expired++
			continue
		}
		rec := Record{Seq: seq, Payload: slices.Clone(fr[frameHeader:])}
		s.mu.Lock()
		c.logExpiredLocked()
		c.delivered = seq
		s.mu.Unlock()
		return rec, nil
	}
}

func (c *Cursor) logExpiredLocked() {
	if c.expired == 0 {
		return
	}
	c.dropped += c.expired
	c.s.log.Warn("cursor skipped expired records", "cursor", c.name, "records", c.expired,
		"max_age", c.s.opts.MaxAge, "dropped_total", c.dropped)
	c.expired = 0
}

// reportCorrupt counts and logs a corrupt region once per spool (and once
// per cursor that skips it).
func (s *Spool) reportCorrupt(c *Cursor, base uint64, off, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.corrupt++
	k := corruptKey{base, off}
	if _, seen := s.corrupt[k]; !seen {
		s.corrupt[k] = struct{}{}
		s.st.corrupt.Add(1)
		s.st.corruptBytes.Add(uint64(n))
	}
	s.log.Warn("skipped corrupt bytes", "cursor", c.name, "segment", segName(base),
		"offset", off, "bytes", n, "corrupt_total", s.st.corrupt.Load())
}

// Ack acknowledges every record up to and including seq (at most the
// newest one Next returned). The position is persisted with the next sync;
// the segments all cursors have passed are deleted after that.
func (c *Cursor) Ack(seq uint64) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	seq = min(seq, c.delivered)
	c.acked = max(c.acked, seq)
}

// ValidCursorName reports whether name can name a cursor (and so a
// publisher's requeue directory): ErrCursorName otherwise.
func ValidCursorName(name string) error {
	if !validCursorName(name) {
		return fmt.Errorf("%w: %q", ErrCursorName, name)
	}
	return nil
}
