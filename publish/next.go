package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stirling-iot/stirling/pipeline/spool"
)

// drainIdle is how long a draining Run waits for a further record before it
// counts itself caught up: once the spool is synced, stored records are
// readable at once.
const drainIdle = 50 * time.Millisecond

// next returns the record merge held back, or the cursor's next record.
// Waiting, it wakes up for the requeue poll (timedOut) and for Drain;
// draining, it waits at most drainIdle (timedOut).
func (r *Runner) next(ctx context.Context, draining bool) (rec spool.Record, timedOut bool, err error) {
	if h := r.held; h != nil {
		r.held = nil
		return *h, false, nil
	}
	var nctx context.Context
	var cancel context.CancelFunc
	switch {
	case draining:
		nctx, cancel = context.WithTimeout(ctx, drainIdle)
	case r.sp != nil:
		// Wake up to look at the requeue directory even when no records
		// arrive.
		nctx, cancel = context.WithTimeout(ctx, r.opts.RequeuePoll)
	default:
		nctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	if !draining {
		stop := context.AfterFunc(r.drain, cancel)
		defer stop()
	}
	rec, err = r.cur.Next(nctx)
	return rec, errors.Is(nctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil, err
}

// Drain asks Run to deliver every record the spool holds (the caller has
// stopped appending and synced the spool), then to return; a failed attempt
// ends it at once, leaving the rest in the spool for the next start. Drain
// waits until Run has returned, or returns ctx's error when ctx ends first
// (Run goes on until its own ctx is done). Drain on a runner whose Run was
// never called waits for ctx.
func (r *Runner) Drain(ctx context.Context) error {
	r.drainNow()
	select {
	case <-r.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish: %s: drain: %w", r.p.Name(), ctx.Err())
	}
}
