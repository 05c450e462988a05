package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

// Sentinel errors.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrTooLarge is returned by Append for a payload that does not fit in
	// one segment.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrEmpty is returned by Last when the spool holds no record.
	ErrEmpty = errors.New("spool: no records")
	// ErrCursorName is returned by Cursor for a name that is not a safe file
	// name.
	ErrCursorName = errors.New("spool: invalid cursor name")
	// ErrLocked is returned by Open when another process (or another Spool
	// in this one) has the directory open.
	ErrLocked = errors.New("spool: directory in use")
)

// maxRecord is the largest payload the format accepts (appending is further
// limited by the segment size).
const maxRecord = 16 << 20

// Opts configures a spool. The zero value of every field selects its
// default (see DefaultOpts).
type Opts struct {
	// MaxBytes bounds the segment files on disk. When an append would
	// exceed it the oldest segment is dropped. Default 128 MiB.
	MaxBytes int64
	// MaxAge drops records older than this (whole segments, and records a
	// cursor reaches after they expired). Default 7 days, the oldest
	// timestamp AWS IoT SiteWise accepts. Negative: no age limit.
	MaxAge time.Duration
	// SegmentBytes is the size at which a new segment file is started.
	// Default 4 MiB; never more than MaxBytes/4, so dropping one segment
	// frees at most a quarter of the spool.
	SegmentBytes int64
	// SyncInterval is the most often the segment is fsynced (group commit)
	// and cursors are persisted. Records become visible to cursors when
	// they are synced. Default 1 s; negative: fsync on every append.
	SyncInterval time.Duration
	// MaxQuarantineBytes rotates quarantine.jsonl to quarantine.jsonl.1
	// when it grows past this. Default 16 MiB.
	MaxQuarantineBytes int64
	// Cursors names every publisher's cursor. Open opens them all at once,
	// so none can miss records because another cursor let a segment be
	// deleted before it was opened, and removes the cursor files of other
	// names (publishers no longer configured). If nil, only the cursors
	// opened with Cursor hold back deletion: open them all before the first
	// Append.
	Cursors []string
	// Clock times syncs, record timestamps and age retention. Default
	// clock.Real. Keep it real even when the simulation runs in scaled
	// time: the sync interval is about the disk.
	Clock clock.Clock
}

// DefaultOpts returns the defaults Open applies to zero fields.
func DefaultOpts() Opts {
	return Opts{
		MaxBytes:           256 << 20,
		MaxAge:             7 * 24 * time.Hour,
		SegmentBytes:       4 << 20,
		SyncInterval:       time.Second,
		MaxQuarantineBytes: 16 << 20,
		Clock:              clock.Real{},
	}
}

func (o Opts) withDefaults() Opts {
	d := DefaultOpts()
	if o.MaxBytes <= 0 {
		o.MaxBytes = d.MaxBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = d.MaxAge
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = d.SegmentBytes
	}
	o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), 4<<10)
	if o.SyncInterval == 0 {
		o.SyncInterval = d.SyncInterval
	}
	if o.MaxQuarantineBytes <= 0 {
		o.MaxQuarantineBytes = d.MaxQuarantineBytes
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	return o
}

// Record is one spooled payload and its sequence number.
type Record struct {
	Seq     uint64
	Payload []byte
}

type segment struct {
	base    uint64    // seq of its first record
	size    int64     // bytes on disk
	created time.Time // from the header; every record in it is newer
}

// lastRef locates the newest record.
type lastRef struct {
	base uint64
	off  int64
	ok   bool
}

// Spool is an on-disk record queue. All methods are safe for concurrent
// use.
type Spool struct {
	dir    string
	opts   Opts
	log    *slog.Logger
	clk    clock.Clock
	maxRec int

	// writeAt writes to a segment or cursor file; tests replace it to
	// inject faults.
	writeAt func(f *os.File, b []byte, off int64) (int, error)

	syncMu sync.Mutex // serialises Sync; taken before mu

	mu        sync.Mutex
	closed    bool
	segs      []*segment // oldest first; the last one is the active segment
	active    *os.File
	end       int64  // bytes written to the active segment
	syncedEnd int64  // bytes of the active segment known to be on disk
	next      uint64 // seq of the next append
	syncedSeq uint64 // newest seq known to be on disk
	last      lastRef
	dirty     bool
	lastSync  time.Time
	// lastCursorSync is when cursors were last persisted.
	lastCursorSync time.Time
	diskBytes      int64
	cursors        map[string]*Cursor
	notify         chan struct{}
	buf            []byte
	corrupt        map[corruptKey]struct{}

	lock *os.File // holds the directory lock until Close

	qmu sync.Mutex // serializes quarantine appends in this process

	st counters
}

type corruptKey struct {
	base uint64
	off  int64
}

type counters struct {
	records, payload, written, syncs, syncErrors    atomic.Uint64
	droppedFull, droppedAge, corrupt, corruptBytes  atomic.Uint64
	tornTails, tornBytes, quarantined, appendErrors atomic.Uint64
}

// Open opens (or creates) the spool in dir: it lists the segments, checks
// the newest one and truncates a torn tail. log may be nil.
func Open(dir string, opts Opts, log *slog.Logger) (*Spool, error) {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Spool{
		dir:     dir,
		opts:    opts,
		log:     log.With("component", "spool"),
		clk:     opts.Clock,
		maxRec:  int(min(opts.SegmentBytes-headerSize-frameHeader, maxRecord)),
		writeAt: (*os.File).WriteAt,
		cursors: map[string]*Cursor{},
		corrupt: map[corruptKey]struct{}{},
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: open: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.load(); err != nil {
		lock.Close()
		if s.active != nil {
			s.active.Close()
		}
		return nil, err
	}
	if err := s.openCursors(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openCursors opens Opts.Cursors and removes the files of other cursors.
func (s *Spool) openCursors() error {
	if s.opts.Cursors == nil {
		return nil
	}
	for _, name := range s.opts.Cursors {
		if _, err := s.Cursor(name); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: open: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), curSuffix)
		if !ok || s.cursors[name] != nil {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
			return fmt.Errorf("spool: remove stale cursor: %w", err)
		}
		s.log.Info("removed the cursor of a publisher no longer configured", "cursor", name)
	}
	return nil
}

// load reads the directory into a fresh Spool.
func (s *Spool) load() error {
	dir := s.dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool: open: %w", err)
	}
	var bases []uint64
	var maxAck uint64
	for _, e := range ents {
		if base, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
		}
		if strings.HasSuffix(e.Name(), curSuffix) {
			if a, _, ok := readCursorFile(filepath.Join(dir, e.Name())); ok {
				maxAck = max(maxAck, a)
			}
		}
	}
	slices.Sort(bases)
	for i, base := range bases {
		seg, err := s.statSegment(base, i == len(bases)-1)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		s.diskBytes += seg.size
	}
	if len(s.segs) == 0 {
		s.next = maxAck + 1
		if err := s.createSegment(s.clk.Now()); err != nil {
			return fmt.Errorf("spool: open: %w", err)
		}
	} else if err := s.openActive(maxAck); err != nil {
		return err
	}
	s.syncedSeq = s.next - 1
	s.expireLocked(s.clk.Now())
	return nil
}

// statSegment reads a segment's size and header.
func (s *Spool) statSegment(base uint64, newest bool) (*segment, error) {
	p := s.segPath(base)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool: open segment: %w", err)
	}
	seg := &segment{base: base, size: st.Size(), created: st.ModTime()}
	h := make([]byte, headerSize)
	n, _ := io.ReadFull(f, h)
	created, herr := parseHeader(h[:n], base)
	switch {
	case herr == nil:
		seg.created = created
	case newest && st.Size() <= headerSize:
		// Cut short while being created; openActive rewrites it.
	default:
		s.log.Warn("bad segment header; using its modification time", "segment", segName(base), "err", herr)
	}
	return seg, nil
}

// openActive opens the newest segment for appending, scans it and
// truncates a torn tail.
func (s *Spool) openActive(maxAck uint64) error {
	seg := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(seg.base), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: open segment: %w", err)
	}
	if seg.size < headerSize {
		// A crash while the segment was being created.
		seg.created = s.clk.Now()
		hdr := appendHeader(nil, seg.base, seg.created)
		if _, err := s.writeAt(f, hdr, 0); err != nil {
			f.Close()
			return fmt.Errorf("spool: repair segment header: %w", err)
		}
		s.st.written.Add(headerSize)
		s.diskBytes += headerSize - seg.size
		seg.size = headerSize
	}
	lastSeq, lastOff, end, err := scanSegment(f, seg.base, seg.size)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: scan segment %s: %w", segName(seg.base), err)
	}
	if end < seg.size {
		torn := seg.size - end
		if err := f.Truncate(end); err != nil {
			f.Close()
			return fmt.Errorf("spool: truncate torn tail: %w", err)
		}
		s.st.tornTails.Add(1)
		s.st.tornBytes.Add(uint64(torn))
		s.diskBytes -= torn
		seg.size = end
		s.log.Warn("truncated torn tail", "segment", segName(seg.base), "offset", end, "bytes", torn)
	}
	if err := datasync(f); err != nil {
		f.Close()
		return fmt.Errorf("spool: sync segment: %w", err)
	}
	s.st.syncs.Add(1)
	s.active, s.end, s.syncedEnd = f, end, end
	s.next = max(lastSeq+1, seg.base, maxAck+1)
	if lastOff >= 0 {
		s.last = lastRef{base: seg.base, off: lastOff, ok: true}
		return nil
	}
	// The newest segment holds no record: the newest is in the one before.
	for i := len(s.segs) - 2; i >= 0 && !s.last.ok; i-- {
		prev := s.segs[i]
		pf, err := os.Open(s.segPath(prev.base))
		if err != nil {
			return fmt.Errorf("spool: open segment: %w", err)
		}
		_, off, _, err := scanSegment(pf, prev.base, prev.size)
		pf.Close()
		if err != nil {
			return fmt.Errorf("spool: scan segment %s: %w", segName(prev.base), err)
		}
		if off >= 0 {
			s.last = lastRef{base: prev.base, off: off, ok: true}
		}
	}
	return nil
}

// scanSegment walks the frames of a segment. It returns the newest seq and
// its offset (-1 if none) and the end of the last valid frame; bytes past
// that end hold no valid frame (a torn tail). Corrupt frames followed by
// valid ones are stepped over.
func scanSegment(f *os.File, base uint64, size int64) (lastSeq uint64, lastOff, end int64, err error) {
	r := newReader(f)
	lastSeq, lastOff, end = base-1, -1, headerSize
	off := int64(headerSize)
	for off < size {
		fr, ok, err := r.frameAt(off, size, maxRecord)
		if err != nil {
			return 0, 0, 0, err
		}
		if ok && frameSeq(fr) > lastSeq {
			lastSeq, lastOff = frameSeq(fr), off
			off += int64(len(fr))
			end = off
			continue
		}
		nxt, err := r.resync(off, size, maxRecord, lastSeq+1, math.MaxUint64)
		if err != nil {
			return 0, 0, 0, err
		}
		off = nxt
	}
	return lastSeq, lastOff, end, nil
}

// createSegment starts a new active segment whose first record will be
// s.next. The caller holds mu (or owns s exclusively).
func (s *Spool) createSegment(now time.Time) error {
	p := s.segPath(s.next)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	hdr := appendHeader(nil, s.next, now)
	if n, err := s.writeAt(f, hdr, 0); err != nil {
		s.st.written.Add(uint64(n))
		f.Close()
		os.Remove(p)
		return fmt.Errorf("write segment header: %w", err)
	}
	s.st.written.Add(headerSize)
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("sync spool directory: %w", err)
	}
	s.st.syncs.Add(1)
	if s.active != nil {
		s.active.Close()
	}
	s.active, s.end, s.syncedEnd = f, headerSize, headerSize
	s.segs = append(s.segs, &segment{base: s.next, size: headerSize, created: now})
	s.diskBytes += headerSize
	s.dirty = true
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append writes payload as the next record and returns its seq. It never
// waits for a publisher; when the spool is full the oldest segment is
// dropped. The record is fsynced at once if the last sync is older than
// Opts.SyncInterval, otherwise by Run (or Sync) within that interval. On
// error (for example a full disk, errors.Is(err, syscall.ENOSPC)) nothing
// was appended and everything appended before is intact.
func (s *Spool) Append(payload []byte) (uint64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if len(payload) > s.maxRec {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), s.maxRec)
	}
	now := s.clk.Now()
	n := int64(frameHeader + len(payload))
	if s.end+n > s.opts.SegmentBytes && s.next > s.segs[len(s.segs)-1].base {
		if err := s.rollLocked(now); err != nil {
			s.st.appendErrors.Add(1)
			s.mu.Unlock()
			return 0, fmt.Errorf("spool: append: %w", err)
		}
	}
	for s.diskBytes+n > s.opts.MaxBytes && len(s.segs) > 1 {
		s.dropLocked("full")
	}
	seq := s.next
	s.buf = appendFrame(s.buf[:0], seq, now, payload)
	w, err := s.writeAt(s.active, s.buf, s.end)
	if err != nil {
		s.st.written.Add(uint64(w))
		if w > 0 {
			// Take back the partial frame so the segment stays well formed.
			if terr := s.active.Truncate(s.end); terr != nil {
				s.log.Warn("truncate partial frame", "err", terr)
			}
		}
		s.st.appendErrors.Add(1)
		s.mu.Unlock()
		return 0, fmt.Errorf("spool: append seq %d: %w", seq, err)
	}
	seg := s.segs[len(s.segs)-1]
	s.last = lastRef{base: seg.base, off: s.end, ok: true}
	s.end += n
	seg.size = s.end
	s.diskBytes += n
	s.next++
	s.dirty = true
	s.st.records.Add(1)
	s.st.payload.Add(uint64(len(payload)))
	s.st.written.Add(uint64(n))
	syncNow := s.opts.SyncInterval < 0 || now.Sub(s.lastSync) >= s.opts.SyncInterval
	s.mu.Unlock()
	if syncNow {
		if err := s.sync(false); err != nil {
			s.st.syncErrors.Add(1)
			s.log.Warn("sync after append", "seq", seq, "err", err)
		}
	}
	return seq, nil
}

// rollLocked syncs the full active segment and starts a new one.
func (s *Spool) rollLocked(now time.Time) error {
	if s.dirty {
		if err := datasync(s.active); err != nil {
			return fmt.Errorf("sync segment: %w", err)
		}
		s.st.syncs.Add(1)
		s.dirty = false
	}
	s.syncedSeq, s.syncedEnd = s.next-1, s.end
	if err := s.createSegment(now); err != nil {
		return err
	}
	s.wakeLocked()
	return nil
}

// dropLocked deletes the oldest segment (never the active one).
func (s *Spool) dropLocked(reason string) {
	seg, nextBase := s.segs[0], s.segs[1].base
	if err := os.Remove(s.segPath(seg.base)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove dropped segment", "segment", segName(seg.base), "err", err)
	}
	s.segs = s.segs[1:]
	s.diskBytes -= seg.size
	lastSeq := nextBase - 1
	acked := seg.base - 1
	if len(s.cursors) > 0 {
		acked = math.MaxUint64
		for _, c := range s.cursors {
			acked = min(acked, c.acked)
		}
	}
	var lost uint64
	if acked < lastSeq {
		lost = lastSeq - max(acked, seg.base-1)
	}
	var total uint64
	if reason == "age" {
		total = s.st.droppedAge.Add(lost)
	} else {
		total = s.st.droppedFull.Add(lost)
	}
	s.log.Warn("dropped oldest segment", "reason", reason, "first_seq", seg.base, "last_seq", lastSeq,
		"undelivered", lost, "bytes", seg.size, "dropped_total", total)
}

// expireLocked drops segments whose records are all older than MaxAge. A
// segment's records are all older than the next segment's creation time.
func (s *Spool) expireLocked(now time.Time) {
	if s.opts.MaxAge < 0 {
		return
	}
	cutoff := now.Add(-s.opts.MaxAge)
	for len(s.segs) > 1 && s.segs[1].created.Before(cutoff) {
		s.dropLocked("age")
	}
}

func (s *Spool) waitLocked() <-chan struct{} {
	if s.notify == nil {
		s.notify = make(chan struct{})
	}
	return s.notify
}

func (s *Spool) wakeLocked() {
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
}

// Sync makes every appended record durable, makes it visible to cursors,
// persists moved cursors and deletes segments every open cursor has
// acknowledged.
func (s *Spool) Sync() error { return s.sync(true) }

// sync is Sync; unless force, cursors are persisted at most once per
// SyncInterval.
func (s *Spool) sync(force bool) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return s.syncLocked(force)
}

// syncLocked is sync with syncMu and mu held; it releases mu.
func (s *Spool) syncLocked(force bool) error {
	f, end, seq, dirty := s.active, s.end, s.next-1, s.dirty
	s.dirty = false
	now := s.clk.Now()
	s.lastSync = now
	cursors := force || s.opts.SyncInterval < 0 || now.Sub(s.lastCursorSync) >= s.opts.SyncInterval
	if cursors {
		s.lastCursorSync = now
	}
	s.mu.Unlock()
	if dirty {
		err := datasync(f)
		if err != nil && !errors.Is(err, os.ErrClosed) {
			s.mu.Lock()
			s.dirty = true
			s.mu.Unlock()
			return fmt.Errorf("spool: sync: %w", err)
		}
		s.st.syncs.Add(1)
		s.mu.Lock()
		if f == s.active {
			s.syncedEnd = max(s.syncedEnd, end)
		}
		s.syncedSeq = max(s.syncedSeq, seq)
		s.wakeLocked()
		s.mu.Unlock()
	}
	if !cursors {
		return nil
	}
	return s.persistCursors()
}

// persistCursors writes each cursor that moved since its last write, then
// deletes the segments all cursors have passed.
func (s *Spool) persistCursors() error {
	type job struct {
		c     *Cursor
		acked uint64
		gen   uint32
	}
	var jobs []job
	s.mu.Lock()
	for _, c := range s.cursors {
		if c.acked > c.persisted {
			c.gen++
			jobs = append(jobs, job{c, c.acked, c.gen})
		}
	}
	s.mu.Unlock()
	var errs []error
	var slot [slotSize]byte
	for _, j := range jobs {
		b := appendSlot(slot[:0], j.acked, j.gen)
		n, err := s.writeAt(j.c.f, b, int64(j.gen%2)*slotSize)
		s.st.written.Add(uint64(n))
		if err == nil {
			err = datasync(j.c.f)
			s.st.syncs.Add(1)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spool: persist cursor %s: %w", j.c.name, err))
			continue
		}
		s.mu.Lock()
		j.c.persisted = max(j.c.persisted, j.acked)
		s.mu.Unlock()
	}
	s.reclaim()
	return errors.Join(errs...)
}

// reclaim deletes the segments every open cursor has durably acknowledged.
func (s *Spool) reclaim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cursors) == 0 {
		return
	}
	done := uint64(math.MaxUint64)
	for _, c := range s.cursors {
		done = min(done, c.persisted)
	}
	for len(s.segs) > 1 && s.segs[1].base-1 <= done {
		seg := s.segs[0]
		if err := os.Remove(s.segPath(seg.base)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove delivered segment", "segment", segName(seg.base), "err", err)
			return
		}
		s.segs = s.segs[1:]
		s.diskBytes -= seg.size
	}
}

// Run syncs pending appends and persists cursors every SyncInterval and
// applies age retention, until ctx is done; then it syncs once more.
func (s *Spool) Run(ctx context.Context) error {
	every := s.opts.SyncInterval
	if every < 0 {
		every = time.Second
	}
	for {
		select {
		case <-ctx.Done():
			if err := s.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				return err
			}
			return nil
		case <-s.clk.After(every):
		}
		if !s.tick() {
			return nil
		}
	}
}

// tick is one round of Run: age retention, then a sync. It reports false
// once the spool is closed.
func (s *Spool) tick() bool {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.expireLocked(s.clk.Now())
	if err := s.syncLocked(false); err != nil {
		s.st.syncErrors.Add(1)
		s.log.Warn("periodic sync", "err", err)
	}
	return true
}

// Last returns the newest record, so a writer can continue its own
// numbering after a restart. It returns ErrEmpty if there is none.
func (s *Spool) Last() (uint64, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	if !s.last.ok {
		return 0, nil, ErrEmpty
	}
	f, err := os.Open(s.segPath(s.last.base))
	if err != nil {
		return 0, nil, fmt.Errorf("spool: last: %w", err)
	}
	defer f.Close()
	limit := s.end
	if s.last.base != s.segs[len(s.segs)-1].base {
		st, err := f.Stat()
		if err != nil {
			return 0, nil, fmt.Errorf("spool: last: %w", err)
		}
		limit = st.Size()
	}
	fr, ok, err := newReader(f).frameAt(s.last.off, limit, maxRecord)
	if err != nil {
		return 0, nil, fmt.Errorf("spool: last: %w", err)
	}
	if !ok {
		return 0, nil, fmt.Errorf("spool: last: %w", ErrEmpty)
	}
	return frameSeq(fr), slices.Clone(fr[frameHeader:]), nil
}

// Close syncs, persists the cursors and closes the files. Blocked Next
// calls return ErrClosed.
func (s *Spool) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	err := s.syncLocked(true)
	s.mu.Lock()
	s.closed = true
	s.wakeLocked()
	errs := []error{err, s.active.Close()}
	for _, c := range s.cursors {
		errs = append(errs, c.f.Close())
	}
	cursors := slices.Collect(maps.Values(s.cursors))
	s.mu.Unlock()
	for _, c := range cursors {
		c.rmu.Lock() // a woken Next returns ErrClosed and lets go
		c.closeReader()
		c.rmu.Unlock()
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}
