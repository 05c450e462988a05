package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

// Queue is what a SpoolWriter appends encoded batches to: the disk spool
// (*spool.Spool), which stores them as opaque payloads.
type Queue interface {
	// Append stores one payload and returns its record sequence number.
	Append(payload []byte) (uint64, error)
	// Sync makes every appended payload durable.
	Sync() error
}

// SpoolWriterOpts configures a SpoolWriter.
type SpoolWriterOpts struct {
	// LastSeq is the newest Reading.Seq already in the queue (see
	// ResumePoint); the writer numbers readings from LastSeq+1.
	LastSeq uint64
	// Restart, when set, is announced on the first batch the writer
	// appends (Batch.Restart): the agent sets it whenever the spool held
	// records of an earlier process (see ResumePoint).
	Restart *Restart
	// Clock stamps appends and failures; nil is the wall clock. The agent
	// passes the spool's clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultSpoolWriterOpts numbers from 1 on the wall clock.
func DefaultSpoolWriterOpts() SpoolWriterOpts { return SpoolWriterOpts{Clock: clock.Real{}} }

// SpoolWriter is the pipeline stage that feeds the spool: it numbers
// readings, encodes batches and appends them.
type SpoolWriter struct {
	q       Queue
	clk     clock.Clock
	log     *slog.Logger
	resumed uint64
	restart *Restart // announced on the first successful append; Run's goroutine only after New

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

// SpoolWriterStats are the writer's counters.
type SpoolWriterStats struct {
	Batches  uint64 // batches appended
	Readings uint64 // readings appended
	Errors   uint64 // batches lost because encoding or appending failed
	// LostReadings counts the readings in those batches; LostNoSpace the
	// part lost to a full disk or quota (ENOSPC, EDQUOT).
	LostReadings, LostNoSpace uint64
	LastSeq                   uint64 // newest Reading.Seq assigned
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

// NewSpoolWriter returns a writer appending to q; opts may be nil (the
// defaults).
func NewSpoolWriter(q Queue, opts *SpoolWriterOpts) (*SpoolWriter, error) {
	if q == nil {
		return nil, fmt.Errorf("pipeline: spool writer: %w", ErrNoQueue)
	}
	o := DefaultSpoolWriterOpts()
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &SpoolWriter{q: q, clk: o.Clock, log: o.Logger.With("component", "spool-writer"),
		resumed: o.LastSeq, restart: o.Restart}, nil
}

// ErrNoQueue is returned by NewSpoolWriter without a queue.
var ErrNoQueue = errors.New("no queue")

// ResumePoint decodes the newest payload of a spool (an encoded Batch) into
// the newest reading's Seq (SpoolWriterOpts.LastSeq) and the newest reading
// time: together, where the process that wrote it left off (Restart).
func ResumePoint(payload []byte) (lastSeq uint64, newest time.Time, err error) {
	var b Batch
	if err := b.UnmarshalBinary(payload); err != nil {
		return 0, time.Time{}, err
	}
	if n := len(b.Readings); n > 0 {
		lastSeq = b.Readings[n-1].Seq
	}
	for _, r := range b.Readings {
		if r.Time.After(newest) {
			newest = r.Time
		}
	}
	return lastSeq, newest, nil
}

// Stats returns the writer's counters.
func (w *SpoolWriter) Stats() SpoolWriterStats {
	st := SpoolWriterStats{Batches: w.batches.Load(), Readings: w.readings.Load(), Errors: w.errs.Load(), LastSeq: w.lastSeq.Load(),
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
func (w *SpoolWriter) failed(n int, err error) {
	now := w.clk.Now()
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
		w.log.Error("append failed; readings are lost until it succeeds again", "err", err, "errno", name,
			"readings", n, "lost_readings_total", lost, "lost_batches_total", batches)
	case now.Sub(w.reminded) >= failReminder:
		w.reminded = now
		w.log.Error("appends still failing", "err", err, "errno", name, "since", w.failingSince,
			"lost_readings_since", w.lostSince, "lost_readings_total", lost, "lost_batches_total", batches)
	}
}

// succeeded ends a run of failures (it is called after every append that
// worked) and stamps the append.
func (w *SpoolWriter) succeeded(now time.Time) {
	w.lastAppend.Store(now.UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failingSince.IsZero() {
		return
	}
	w.log.Info("appends succeed again", "failed_for", now.Sub(w.failingSince).Round(time.Millisecond),
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

// Run appends every batch from in until in is closed. Readings get
// contiguous Seq numbers, continuing after SpoolWriterOpts.LastSeq; the
// batch's ID becomes its record seq. The first batch appended carries
// SpoolWriterOpts.Restart. Empty batches are skipped. A batch
// that cannot be appended (full disk) is lost: it is counted (batches and
// readings), the error and its time are kept for Stats, the first failure
// is logged (then once a minute), and Run goes on; the next append that
// works ends the failure. When ctx is done Run keeps draining in until it is closed (the
// caller closes it once the producer stopped), then syncs the spool.
func (w *SpoolWriter) Run(ctx context.Context, in <-chan *Batch) error {
	seq := w.resumed
	w.lastSeq.Store(seq)
	var buf []byte
	put := func(b *Batch) {
		if b == nil || len(b.Readings) == 0 {
			return
		}
		for i := range b.Readings {
			b.Readings[i].Seq = seq + 1 + uint64(i)
		}
		if w.restart != nil {
			b.Restart = w.restart
		}
		var err error
		if buf, err = b.AppendBinary(buf[:0]); err == nil {
			b.ID, err = w.q.Append(buf)
		}
		if err != nil {
			// A lost batch does not advance seq: the next one carries
			// the restart announcement instead.
			b.Restart = nil
			w.failed(len(b.Readings), err)
			return
		}
		w.restart = nil
		seq += uint64(len(b.Readings))
		w.lastSeq.Store(seq)
		w.batches.Add(1)
		w.readings.Add(uint64(len(b.Readings)))
		w.succeeded(w.clk.Now())
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

func (w *SpoolWriter) sync() error {
	return w.q.Sync()
}
