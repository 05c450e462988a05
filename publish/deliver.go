package publish

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// rejection is a reading a publisher rejected, with the reason.
type rejection struct {
	reading pipeline.Reading
	reason  string
}

// deliver sends b until every reading is accepted or rejected. It returns
// false if ctx ended first, or if an attempt failed or a backoff was in
// progress once Drain was called. b.Readings shrinks to the readings still due.
func (r *Runner) deliver(ctx context.Context, b *pipeline.Batch) bool {
	var res []Result
	var rejects []rejection
	backoff := r.opts.Initial
	failed := 0
	if len(b.Readings) > 0 {
		r.mu.Lock()
		r.inFlight = b.Readings[0].Time
		r.mu.Unlock()
	}
	defer func() {
		r.mu.Lock()
		r.inFlight = time.Time{}
		r.mu.Unlock()
	}()
	for len(b.Readings) > 0 {
		res = append(res[:0], make([]Result, len(b.Readings))...)
		r.update(func(st *RunnerStats) {
			// A retry keeps the backoff or failing state: only a success
			// ends it, so the page and the log do not flap at every attempt.
			if st.State != StateBackoff && st.State != StateFailing {
				st.State = StateDelivering
			}
			st.Backoff, st.Attempts = 0, st.Attempts+1
		})
		sctx, cancel := context.WithTimeout(ctx, r.opts.SendTimeout)
		err := r.p.Send(sctx, b, res)
		timedOut := sctx.Err() != nil && ctx.Err() == nil
		cancel()
		// Results count even when ctx ended during Send: what the
		// destination acknowledged is acknowledged, so a clean stop does
		// not deliver that batch again on the next start.
		if err == nil && timedOut {
			err = fmt.Errorf("send timed out after %v", r.opts.SendTimeout)
		}
		if b.Restart != nil && restartDelivered(res) {
			// The retry's first message must not announce the restart
			// again at a later reading.
			b.Restart = nil
		}
		var accepted uint64
		var why string
		rejects = rejects[:0]
		keep := b.Readings[:0]
		for i := range res {
			switch res[i].Status {
			case Accepted:
				accepted++
			case Rejected:
				rejects = append(rejects, rejection{b.Readings[i], res[i].Reason})
			default:
				if why == "" {
					why = res[i].Reason
				}
				keep = append(keep, b.Readings[i])
			}
		}
		b.Readings = keep
		r.quarantineReadings(b.ID, rejects)
		r.update(func(st *RunnerStats) { st.Delivered += accepted })
		if len(keep) == 0 {
			r.succeeded(failed)
			return true
		}
		if ctx.Err() != nil || r.drain.Err() != nil {
			// Shutting down: no retries; the rest stays in the spool.
			return false
		}
		if err != nil {
			why = err.Error()
		} else if why == "" {
			why = "publisher asked to retry"
		}
		failed++
		r.runFails++
		cause := Cause(err)
		limit := r.opts.Max
		if cause == "unauthorized" {
			limit = r.opts.AuthMax
		}
		backoff = min(backoff, limit)
		wait := r.jitter(backoff)
		backoff = min(time.Duration(float64(backoff)*r.opts.Multiplier), limit)
		state := StateBackoff
		if r.runFails >= r.opts.FailingAfter || cause == "unauthorized" {
			// An authorisation failure will not pass by itself: failing at once.
			state = StateFailing
		}
		reason := why
		if cause != "" {
			reason = cause + ": " + why
		}
		now := r.clk.Now()
		r.update(func(st *RunnerStats) {
			st.State, st.Cause, st.Reason, st.Backoff = state, cause, reason, wait
			st.LastError, st.LastErrorTime = why, now
			st.Failures++
			st.Retried += uint64(len(keep))
		})
		r.logFailure(now, state, cause, b.ID, len(keep), wait, why)
		select {
		case <-ctx.Done():
			return false
		case <-r.drain.Done():
			return false
		case <-r.ready:
		case <-r.clk.After(wait):
		}
	}
	r.succeeded(failed)
	return true
}

func (r *Runner) succeeded(int) {
	now := r.clk.Now()
	r.update(func(st *RunnerStats) {
		st.State, st.Cause, st.Reason, st.Backoff = StateIdle, "", "", 0
		st.LastSuccess = now
		st.Batches++
	})
	if r.logState != "" {
		r.log.Info("delivery resumed", "failed_attempts", r.runFails, "failed_for", now.Sub(r.failSince).Round(time.Millisecond))
	}
	r.logState, r.logCause, r.runFails = "", "", 0
}

// logFailure logs a failed attempt: the first of a run and every change of
// state or cause at once, then a reminder at most every RemindEvery with the
// attempt count and the last cause; other attempts only at debug level.
func (r *Runner) logFailure(now time.Time, state State, cause string, batch uint64, retry int, wait time.Duration, why string) {
	attrs := []any{"batch", batch, "attempts", r.runFails, "err", why}
	if cause != "" {
		attrs = append(attrs, "cause", cause)
	}
	switch {
	case r.logState == "" && state == StateBackoff:
		r.failSince = now
		r.log.Warn("delivery failed; retrying", append(attrs, "retry_readings", retry)...)
	case r.logState == "" || state != r.logState || cause != r.logCause:
		if r.logState == "" {
			r.failSince = now
		}
		r.log.Warn("publisher failing", append(attrs, "state", string(state), "failing_for", now.Sub(r.failSince).Round(time.Second))...)
	case now.Sub(r.lastLog) >= r.opts.RemindEvery:
		r.log.Warn("publisher still failing", append(attrs, "state", string(state), "failing_for", now.Sub(r.failSince).Round(time.Second))...)
	default:
		r.log.Debug("delivery failed; retrying", append(attrs, "wait", wait)...)
		return
	}
	r.logState, r.logCause, r.lastLog = state, cause, now
}

// jitter returns a wait between (1-Jitter)d and d.
func (r *Runner) jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Float64()*r.opts.Jitter*float64(d))
}

func (r *Runner) update(f func(*RunnerStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

// restartDelivered reports whether the reading a batch's restart
// announcement travels with (its first reading not rejected) was accepted.
func restartDelivered(res []Result) bool {
	for i := range res {
		if res[i].Status != Rejected {
			return res[i].Status == Accepted
		}
	}
	return true
}
