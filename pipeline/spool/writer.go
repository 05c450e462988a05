package spool

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// Writer is the pipeline stage that feeds the spool: it numbers readings,
// encodes batches and appends them.
type Writer struct {
	s   *Spool
	log *slog.Logger

	batches, readings, errs, lastSeq atomic.Uint64
	lastAppend                       atomic.Int64 // Unix nanoseconds on the spool's clock
}

// WriterStats are the writer's counters.
type WriterStats struct {
	Batches  uint64 // batches appended
	Readings uint64 // readings appended
	Errors   uint64 // batches lost because encoding or appending failed
	LastSeq  uint64 // newest pipeline.Reading.Seq assigned
	// LastAppend is when a batch was last appended (the spool's clock);
	// zero before the first.
	LastAppend time.Time
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
	st := WriterStats{Batches: w.batches.Load(), Readings: w.readings.Load(), Errors: w.errs.Load(), LastSeq: w.lastSeq.Load()}
	if ns := w.lastAppend.Load(); ns != 0 {
		st.LastAppend = time.Unix(0, ns)
	}
	return st
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
// that cannot be appended (full disk) is logged and counted, and Run goes
// on. When ctx is done Run keeps draining in until it is closed (the
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
			n := w.errs.Add(1)
			w.log.Warn("spool: batch lost", "readings", len(b.Readings), "err", err, "lost_batches_total", n)
			return
		}
		seq += uint64(len(b.Readings))
		w.lastSeq.Store(seq)
		w.batches.Add(1)
		w.readings.Add(uint64(len(b.Readings)))
		w.lastAppend.Store(w.s.clk.Now().UnixNano())
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
