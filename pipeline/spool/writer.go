package spool

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// Writer is the pipeline stage that feeds the spool: it numbers readings,
// encodes batches and appends them.
type Writer struct {
	s   *Spool
	log *slog.Logger

	batches, readings, errs, lastSeq atomic.Uint64
	lostReadings, lostNoSpace        atomic.Uint64
	lastAppend                       atomic.Int64 // Unix nanoseconds on the spool's clock

	mu           sync.Mutex // guards the error state below
	lastErr      string
	lastErrTime  time.Time
	failingSince time.Time // first failure since the last successful append; zero while appends succeed
	lostSince    uint64    // readings lost since failingSince
	reminded     time.Time // last "still failing" log
}

// WriterStats are the writer's counters.
type WriterStats struct {
	Batches  uint64 // batches appended
	Readings uint64 // readings appended
	Errors   uint64 // batches lost because encoding or appending failed
	// LostReadings counts the readings in those batches; LostNoSpace the
	// part lost to a full disk or quota (ENOSPC, EDQUOT).
	LostReadings, LostNoSpace uint64
	LastSeq                   uint64 // newest pipeline.Reading.Seq assigned
	// LastAppend is when a batch was last appended successfully (the
	// spool's clock); zero before the first.
	LastAppend time.Time
	// LastError is the last failed append, prefixed with the errno name
	// when there is one ("ENOSPC: spool: append seq 7: ..."), and
	// LastErrorTime when it happened; empty and zero before the first.
	LastError     string
	LastErrorTime time.Time
	// FailingSince is the first failure after the last successful append:
	// non-zero exactly while appends fail.
	FailingSince time.Time
}

// NewWriter returns a writer appending to s. log may be nil.
func NewWriter(s *Spool, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{s: s, log: log.With("component", "spool-writer")}
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	st := WriterStats{Batches: w.batches.Load(), Readings: w.readings.Load(), Errors: w.errs.Load(), LastSeq: w.lastSeq.Load(),
		LostReadings: w.lostReadings.Load(), LostNoSpace: w.lostNoSpace.Load()}
	if ns := w.lastAppend.Load(); ns != 0 {
		st.LastAppend = time.Unix(0, ns)
	}
	w.mu.Lock()
	st.LastError, st.LastErrorTime, st.FailingSince = w.lastErr, w.lastErrTime, w.failingSince
	w.mu.Unlock()
	return st
}

// failReminder is the longest a run of failed appends goes unlogged.
const failReminder = time.Minute

// failed records a batch of n readings that could not be appended. The
// first failure after a success is logged at once, then a reminder at most
// once a minute: a full disk at one batch a second must not flood the log
// (which may live on the same disk).
func (w *Writer) failed(n int, err error) {
	now := w.s.clk.Now()
	batches := w.errs.Add(1)
	lost := w.lostReadings.Add(uint64(n))
	name := errnoName(err)
	if name == "ENOSPC" || name == "EDQUOT" {
		w.lostNoSpace.Add(uint64(n))
	}
	msg := err.Error()
	if name != "" {
		msg = name + ": " + msg
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr, w.lastErrTime = msg, now
	w.lostSince += uint64(n)
	switch {
	case w.failingSince.IsZero():
		w.failingSince, w.reminded = now, now
		w.log.Error("spool: append failed; readings are lost until it succeeds again", "err", err, "errno", name,
			"readings", n, "lost_readings_total", lost, "lost_batches_total", batches)
	case now.Sub(w.reminded) >= failReminder:
		w.reminded = now
		w.log.Error("spool: appends still failing", "err", err, "errno", name, "since", w.failingSince,
			"lost_readings_since", w.lostSince, "lost_readings_total", lost, "lost_batches_total", batches)
	}
}

// succeeded ends a run of failures (it is called after every append that
// worked) and stamps the append.
func (w *Writer) succeeded(now time.Time) {
	w.lastAppend.Store(now.UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failingSince.IsZero() {
		return
	}
	w.log.Info("spool: appends succeed again", "failed_for", now.Sub(w.failingSince).Round(time.Millisecond),
		"lost_readings", w.lostSince, "lost_readings_total", w.lostReadings.Load())
	w.failingSince, w.lostSince = time.Time{}, 0
}

// errnoName names the errno behind err for the errors a disk gives, or "".
func errnoName(err error) string {
	var no syscall.Errno
	if !errors.As(err, &no) {
		return ""
	}
	switch no {
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EDQUOT:
		return "EDQUOT"
	case syscall.EIO:
		return "EIO"
	case syscall.EROFS:
		return "EROFS"
	case syscall.EFBIG:
		return "EFBIG"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	}
	return "errno " + strconv.Itoa(int(no))
}

// resume returns the last pipeline.Reading.Seq in the spool.
func (w *Writer) resume() uint64 {
	_, payload, err := w.s.Last()
	if errors.Is(err, ErrEmpty) {
		return 0
	}
	var b pipeline.Batch
	if err == nil {
		err = b.UnmarshalBinary(payload)
	}
	if err != nil {
		w.log.Error("spool: cannot read the newest record; reading seq restarts at 1", "err", err)
		return 0
	}
	if n := len(b.Readings); n > 0 {
		return b.Readings[n-1].Seq
	}
	return 0
}

// Run appends every batch from in until in is closed. Readings get
// contiguous Seq numbers, continuing after the newest spooled reading; the
// batch's ID becomes its record seq. Empty batches are skipped. A batch
// that cannot be appended (full disk) is lost: it is counted (batches and
// readings), the error and its time are kept for Stats, the first failure
// is logged (then once a minute), and Run goes on; the next append that
// works ends the failure. When ctx is done Run keeps draining in until it is closed (the
// caller closes it once the producer stopped), then syncs the spool.
func (w *Writer) Run(ctx context.Context, in <-chan *pipeline.Batch) error {
	seq := w.resume()
	w.lastSeq.Store(seq)
	var buf []byte
	put := func(b *pipeline.Batch) {
		if b == nil || len(b.Readings) == 0 {
			return
		}
		for i := range b.Readings {
			b.Readings[i].Seq = seq + 1 + uint64(i)
		}
		var err error
		if buf, err = b.AppendBinary(buf[:0]); err == nil {
			b.ID, err = w.s.Append(buf)
		}
		if err != nil {
			w.failed(len(b.Readings), err)
			return
		}
		seq += uint64(len(b.Readings))
		w.lastSeq.Store(seq)
		w.batches.Add(1)
		w.readings.Add(uint64(len(b.Readings)))
		w.succeeded(w.s.clk.Now())
	}
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return w.sync()
			}
			put(b)
		case <-ctx.Done():
			for b := range in {
				put(b)
			}
			return w.sync()
		}
	}
}

func (w *Writer) sync() error {
	if err := w.s.Sync(); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}
