package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// Readier is implemented by publishers that know when their destination
// becomes reachable again (an MQTT reconnect, say). Ready returns a channel
// that receives a value each time it does (a non-blocking send into a
// channel with a buffer of one); the Runner then retries at once instead of
// finishing its backoff wait.
type Readier interface {
	Ready() <-chan struct{}
}

// State is what a Runner is doing.
type State string

// Runner states.
const (
	StateIdle       State = "idle"       // the last batch was delivered; waiting for the next
	StateDelivering State = "delivering" // a Send is in progress
	StateBackoff    State = "backoff"    // waiting before a retry
	StateFailing    State = "failing"    // backing off after RunnerOpts.FailingAfter failed attempts in a row
	StateStopped    State = "stopped"    // Run returned
)

// RunnerOpts configures a Runner's retry policy. Zero fields take the
// defaults of DefaultRunnerOpts.
type RunnerOpts struct {
	// Initial is the first backoff wait (default 100 ms).
	Initial time.Duration
	// Max caps the wait (default 2 s, so the first retry after an outage
	// comes soon; publishers that implement Readier are retried at once).
	Max time.Duration
	// Multiplier grows the wait after each failed attempt (default 2).
	Multiplier float64
	// Jitter is the fraction of each wait that is random (default 0.2: a
	// wait of d lasts between 0.8d and d).
	Jitter float64
	// FailingAfter is how many failed attempts in a row turn the state from
	// backoff into failing (default 5).
	FailingAfter int
	// SendTimeout bounds one Send call in wall time (default 30 s); a Send
	// that runs out of time counts as a failed attempt and is retried.
	SendTimeout time.Duration
	// MergeReadings: when records are already waiting in the spool (a
	// backlog after an outage), consecutive records are sent together in
	// one Send of up to this many readings, so a backlog drains in few large
	// messages instead of one round trip per record (default 1000; 1 turns
	// merging off). Publishers split what exceeds their own limits.
	MergeReadings int
	// Clock times the waits (default clock.Real).
	Clock clock.Clock
}

// DefaultRunnerOpts returns the defaults.
func DefaultRunnerOpts() RunnerOpts {
	return RunnerOpts{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2,
		FailingAfter: 5, SendTimeout: 30 * time.Second, MergeReadings: 1000, Clock: clock.Real{}}
}

func (o RunnerOpts) withDefaults() RunnerOpts {
	d := DefaultRunnerOpts()
	if o.Initial <= 0 {
		o.Initial = d.Initial
	}
	if o.Max <= 0 {
		o.Max = d.Max
	}
	o.Max = max(o.Max, o.Initial)
	if o.Multiplier < 1 {
		o.Multiplier = d.Multiplier
	}
	if o.Jitter <= 0 || o.Jitter > 1 {
		o.Jitter = d.Jitter
	}
	if o.FailingAfter <= 0 {
		o.FailingAfter = d.FailingAfter
	}
	if o.MergeReadings <= 0 {
		o.MergeReadings = d.MergeReadings
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = d.SendTimeout
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	return o
}

// RunnerStats is a snapshot of a Runner for /metrics and the status page.
type RunnerStats struct {
	Name  string
	State State
	// Reason says why the state is backoff or failing (the last error or
	// retry reason); empty otherwise.
	Reason        string
	LastError     string
	LastErrorTime time.Time // zero when there was no error
	LastSuccess   time.Time // last acknowledged batch; zero when none
	Delivered     uint64    // readings accepted
	Retried       uint64    // readings sent again after a retry result
	Rejected      uint64    // readings rejected for good (quarantined)
	Batches       uint64    // spool records acknowledged
	Attempts      uint64    // Send calls
	Failures      uint64    // Send calls that left readings to retry
	// QuarantineErrors counts rejected readings that could not be written
	// to the quarantine file (they are logged, then dropped).
	QuarantineErrors uint64
	Backoff          time.Duration // the wait in progress (0 unless backing off)
	LagRecords       uint64        // spool records this publisher has not acknowledged
	LagBytes         int64         // their estimated size on disk
	// LagSeconds is the age (by sensor time) of the oldest reading in the
	// record being delivered; 0 when idle.
	LagSeconds float64
}

// Runner moves records from one spool cursor to one publisher: in order,
// with per-reading results, retries with exponential backoff and jitter,
// and a quarantine for rejected readings.
type Runner struct {
	p     Publisher
	cur   *spool.Cursor
	sp    *spool.Spool
	opts  RunnerOpts
	log   *slog.Logger
	clk   clock.Clock
	ready <-chan struct{}
	// scratch decodes the records merge appends (Run's goroutine only).
	scratch pipeline.Batch

	mu       sync.Mutex
	st       RunnerStats
	inFlight time.Time // sensor time of the oldest reading being delivered
}

// NewRunner returns a runner delivering cur's records to p. sp receives
// rejected readings in its quarantine file (nil: rejected readings are only
// logged and counted). log may be nil.
func NewRunner(p Publisher, cur *spool.Cursor, sp *spool.Spool, opts RunnerOpts, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	r := &Runner{p: p, cur: cur, sp: sp, opts: opts, clk: opts.Clock,
		log: log.With("component", "publish", "publisher", p.Name())}
	if rd, ok := p.(Readier); ok {
		r.ready = rd.Ready()
	}
	r.st = RunnerStats{Name: p.Name(), State: StateIdle}
	return r
}

// Stats returns a snapshot of the runner's state and counters.
func (r *Runner) Stats() RunnerStats {
	cs := r.cur.Stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.LagRecords, st.LagBytes = cs.Depth, cs.DepthBytes
	if !r.inFlight.IsZero() {
		st.LagSeconds = max(0, r.clk.Now().Sub(r.inFlight).Seconds())
	}
	return st
}

// Run delivers records until ctx is done, then returns nil promptly (as
// soon as the publisher's Send honours ctx). The record being delivered is
// not acknowledged and stays in the spool. A spool error ends Run.
func (r *Runner) Run(ctx context.Context) error {
	defer r.update(func(st *RunnerStats) { st.State, st.Reason, st.Backoff = StateStopped, "", 0 })
	var b pipeline.Batch
	for {
		rec, err := r.cur.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return nil
			}
			return fmt.Errorf("publish: %s: %w", r.p.Name(), err)
		}
		if err := b.UnmarshalBinary(rec.Payload); err != nil {
			r.quarantine(rec, "undecodable batch: "+err.Error(), 1)
			r.cur.Ack(rec.Seq)
			continue
		}
		b.ID = rec.Seq
		last := r.merge(ctx, &b, rec.Seq)
		if !r.deliver(ctx, &b) {
			return nil
		}
		r.cur.Ack(last)
	}
}

// mergeWait is how long merge waits for a further record. Records already
// in the spool come back at once; in steady state (no backlog) this is the
// only delay merging adds.
const mergeWait = time.Millisecond

// merge appends the readings of records already waiting behind b (up to
// MergeReadings in all) and returns the seq of the last record taken, which
// the caller acknowledges once b is delivered. b.ID stays the first
// record's seq.
func (r *Runner) merge(ctx context.Context, b *pipeline.Batch, last uint64) uint64 {
	for len(b.Readings) < r.opts.MergeReadings {
		wctx, cancel := context.WithTimeout(ctx, mergeWait)
		rec, err := r.cur.Next(wctx)
		cancel()
		if err != nil {
			return last
		}
		if err := r.scratch.UnmarshalBinary(rec.Payload); err != nil {
			r.quarantine(rec, "undecodable batch: "+err.Error(), 1)
		} else {
			b.Readings = append(b.Readings, r.scratch.Readings...)
		}
		last = rec.Seq
	}
	return last
}

type rejection struct {
	reading pipeline.Reading
	reason  string
}

// deliver sends b until every reading is accepted or rejected. It returns
// false if ctx ended first. b.Readings shrinks to the readings still due.
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
		r.update(func(st *RunnerStats) { st.State, st.Backoff, st.Attempts = StateDelivering, 0, st.Attempts+1 })
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
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			why = err.Error()
		} else if why == "" {
			why = "publisher asked to retry"
		}
		failed++
		wait := r.jitter(backoff)
		backoff = min(time.Duration(float64(backoff)*r.opts.Multiplier), r.opts.Max)
		state := StateBackoff
		if failed >= r.opts.FailingAfter {
			state = StateFailing
		}
		now := r.clk.Now()
		r.update(func(st *RunnerStats) {
			if state == StateFailing && st.State != StateFailing {
				r.log.Warn("publish: publisher failing", "batch", b.ID, "attempts", failed, "err", why)
			}
			st.State, st.Reason, st.Backoff = state, why, wait
			st.LastError, st.LastErrorTime = why, now
			st.Failures++
			st.Retried += uint64(len(keep))
		})
		if failed == 1 {
			r.log.Warn("publish: delivery failed; retrying", "batch", b.ID, "retry_readings", len(keep), "err", why)
		} else {
			r.log.Debug("publish: delivery failed; retrying", "batch", b.ID, "attempt", failed, "wait", wait, "err", why)
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.ready:
		case <-r.clk.After(wait):
		}
	}
	r.succeeded(failed)
	return true
}

func (r *Runner) succeeded(failed int) {
	now := r.clk.Now()
	r.update(func(st *RunnerStats) {
		st.State, st.Reason, st.Backoff = StateIdle, "", 0
		st.LastSuccess = now
		st.Batches++
	})
	if failed > 0 {
		r.log.Info("publish: delivery resumed", "failed_attempts", failed)
	}
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

// quarantineReadings writes rejected readings to the quarantine file, one
// entry per distinct reason, each a batch with the record's ID.
func (r *Runner) quarantineReadings(id uint64, rejects []rejection) {
	for len(rejects) > 0 {
		want := rejects[0].reason
		reason := want
		if reason == "" {
			reason = "rejected"
		}
		b := pipeline.Batch{ID: id}
		rest := rejects[:0]
		for _, rj := range rejects {
			if rj.reason == want {
				b.Readings = append(b.Readings, rj.reading)
			} else {
				rest = append(rest, rj)
			}
		}
		payload, err := b.AppendBinary(nil)
		if err != nil {
			r.log.Error("publish: encode rejected readings", "batch", id, "err", err)
		}
		r.quarantine(spool.Record{Seq: id, Payload: payload}, reason, len(b.Readings))
		rejects = rest
	}
}

func (r *Runner) quarantine(rec spool.Record, reason string, readings int) {
	r.update(func(st *RunnerStats) { st.Rejected += uint64(readings) })
	r.log.Warn("publish: readings rejected", "batch", rec.Seq, "readings", readings, "reason", reason)
	if r.sp == nil {
		return
	}
	if err := r.sp.Quarantine(r.p.Name(), rec, reason); err != nil {
		r.update(func(st *RunnerStats) { st.QuarantineErrors += uint64(readings) })
		r.log.Error("publish: quarantine failed; rejected readings dropped", "batch", rec.Seq, "readings", readings, "err", err)
	}
}
