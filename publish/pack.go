package publish

import (
	"context"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// Packer is implemented by publishers whose destination bills by the
// message or by the unit of data (AWS IoT Core: every PUBLISH in 5 KB
// increments; SiteWise: 1 KB or 10 data points per data stream). Instead of
// sending each record as it arrives, the Runner then holds records for up
// to MaxLatency and merges those that arrive meanwhile into one Send, as
// long as the merged batch still Fits. It sends when the next record would
// not fit (that record starts the next Send) or when the first record held
// has waited MaxLatency, whichever comes first.
//
// A backlog (records already waiting behind the one that overflows) is
// merged up to RunnerOpts.MergeReadings, as for any publisher, and the
// publisher splits it into messages of whole units.
type Packer interface {
	// MaxLatency is the longest a record is held, from the moment the
	// Runner took it from the spool to the start of its Send. 0 sends at
	// once.
	MaxLatency() time.Duration
	// Fits reports whether b fits in the publisher's smallest billable
	// unit (one 5 KB message; one full entry per data stream), so that
	// adding readings to it costs nothing more.
	Fits(b *pipeline.Batch) bool
}

// pack holds b, whose first record was taken at taken, for more records
// while b fits the Packer's unit and MaxLatency has not passed since taken,
// and returns the seq of the last record merged into b. The record that
// would make b overflow is kept in r.held for the next Send. It returns
// early, leaving b as it is, when ctx ends.
func (r *Runner) pack(ctx context.Context, b *pipeline.Batch, last uint64, taken time.Time) uint64 {
	pk := r.packer()
	if pk == nil || r.held != nil || r.drain.Err() != nil || !pk.Fits(b) {
		return last
	}
	deadline := taken.Add(pk.MaxLatency())
	for len(b.Readings) < r.opts.MergeReadings {
		d := deadline.Sub(r.clk.Now())
		if d <= 0 {
			return last
		}
		wctx, cancel := r.withTimeout(ctx, d)
		stop := context.AfterFunc(r.drain, cancel) // Drain sends at once
		rec, err := r.cur.Next(wctx)
		stop()
		cancel()
		if err != nil {
			return last
		}
		if err := r.scratch.UnmarshalBinary(rec.Payload); err != nil {
			r.quarantineRecord(rec, "undecodable batch: "+err.Error())
			last = rec.Seq
			continue
		}
		if r.scratch.Restart != nil {
			// A restart announcement starts a Send of its own (merge).
			r.held, r.heldAt = &rec, r.clk.Now()
			return last
		}
		n := len(b.Readings)
		b.Readings = append(b.Readings, r.scratch.Readings...)
		if !pk.Fits(b) {
			b.Readings = b.Readings[:n]
			r.held, r.heldAt = &rec, r.clk.Now()
			return last
		}
		last = rec.Seq
	}
	return last
}

// packer returns the publisher as a Packer if it holds records at all.
func (r *Runner) packer() Packer {
	if pk, ok := r.p.(Packer); ok && pk.MaxLatency() > 0 {
		return pk
	}
	return nil
}

// backlog reports whether records after seq are already waiting in the
// spool: then merge fills whole messages instead of holding.
func (r *Runner) backlog(seq uint64) bool {
	cs := r.cur.Stats()
	return cs.Acked+cs.Depth > seq
}

// withTimeout is context.WithTimeout on the Runner's clock (a simulated
// clock runs faster than the wall). Its cancel may be called more than once.
func (r *Runner) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-r.clk.After(d):
			cancel()
		case <-stop:
		}
	}()
	var once sync.Once
	return wctx, func() { once.Do(func() { close(stop) }); cancel() }
}
