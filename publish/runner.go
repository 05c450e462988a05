package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// ErrRunning is returned by a second call of Runner.Run.
var ErrRunning = errors.New("publish: runner already running")

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
	// AuthMax caps the wait instead of Max while the failure is
	// ErrUnauthorized (default 60 s): it needs an operator, and retrying a
	// remote API every 2 s for it only adds load; a fixed policy is noticed
	// within a minute, or at once by a Readier publisher.
	AuthMax time.Duration
	// RemindEvery is how often a failure that goes on is logged again, with
	// the attempt count and the last cause (default 1 min).
	RemindEvery time.Duration
	// RequeuePoll is how often the runner looks for entries an operator
	// requeued for its publisher (default 5 s).
	RequeuePoll time.Duration
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
	// Logger receives delivery failures and quarantines, scoped
	// component=publish and publisher=<name>; nil discards them.
	Logger *slog.Logger
}

// DefaultRunnerOpts returns the defaults.
func DefaultRunnerOpts() RunnerOpts {
	return RunnerOpts{Initial: 100 * time.Millisecond, Max: 2 * time.Second, AuthMax: time.Minute, Multiplier: 2, Jitter: 0.2,
		FailingAfter: 5, SendTimeout: 30 * time.Second, MergeReadings: 1000, RemindEvery: DefaultRemindEvery,
		RequeuePoll: 5 * time.Second, Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)}
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
	if o.AuthMax <= 0 {
		o.AuthMax = d.AuthMax
	}
	o.AuthMax = max(o.AuthMax, o.Max)
	if o.RemindEvery <= 0 {
		o.RemindEvery = d.RemindEvery
	}
	if o.RequeuePoll <= 0 {
		o.RequeuePoll = d.RequeuePoll
	}
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
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}

// RunnerStats is a snapshot of a Runner for /metrics and the status page.
type RunnerStats struct {
	Name  string
	State State
	// Cause is the failure class while backing off or failing
	// ("unauthorized", "unavailable", or empty; see publish.Cause).
	Cause string
	// Reason says why the state is backoff or failing (the last error or
	// retry reason, after "<cause>: " when there is a Cause); empty
	// otherwise.
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
	// Requeued counts readings delivered again from entries an operator
	// requeued out of the quarantine.
	Requeued uint64
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

// StateText is the state as the status page and /metrics show it: the
// state, then the cause while backing off or failing ("failing:
// unauthorized").
func (s RunnerStats) StateText() string {
	if s.Cause != "" && (s.State == StateBackoff || s.State == StateFailing) {
		return string(s.State) + ": " + s.Cause
	}
	return string(s.State)
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
	// held is a record merge took from the cursor but did not append: it
	// announces a restart, which must start a Send of its own (Run's
	// goroutine only).
	held *spool.Record
	// heldAt is when held was taken from the cursor (for Packer's
	// MaxLatency).
	heldAt time.Time

	// Failure logging state (Run's goroutine only): the state and cause
	// last logged ("" while delivering fine), when the run of failures
	// began, when it was last logged, and its failed attempts.
	logState     State
	logCause     string
	failSince    time.Time
	lastLog      time.Time
	runFails     int
	requeueCheck time.Time // last look at the requeue directory (wall clock)

	// drain is cancelled by Drain: Run delivers what the spool holds, then
	// returns. stopped is closed when Run returns.
	drain     context.Context
	drainNow  context.CancelFunc
	stopped   chan struct{}
	startOnce sync.Once

	mu       sync.Mutex
	st       RunnerStats
	inFlight time.Time // sensor time of the oldest reading being delivered
}

// NewRunner returns a runner delivering cur's records to p. sp receives
// rejected readings in its quarantine file (nil: rejected readings are only
// logged and counted). A nil opts means DefaultRunnerOpts.
func NewRunner(p Publisher, cur *spool.Cursor, sp *spool.Spool, opts *RunnerOpts) *Runner {
	var o RunnerOpts
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	r := &Runner{p: p, cur: cur, sp: sp, opts: o, clk: o.Clock,
		log: o.Logger.With("component", "publish", "publisher", p.Name()), stopped: make(chan struct{})}
	r.drain, r.drainNow = context.WithCancel(context.Background())
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
// not acknowledged and stays in the spool. A spool error ends Run. After
// Drain, Run returns once it has delivered every record the spool holds, or
// at the first failed attempt. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	running := false
	r.startOnce.Do(func() { running = true })
	if !running {
		return ErrRunning
	}
	defer close(r.stopped)
	defer r.update(func(st *RunnerStats) { st.State, st.Cause, st.Reason, st.Backoff = StateStopped, "", "", 0 })
	var b pipeline.Batch
	for {
		draining := r.drain.Err() != nil
		if draining && r.cur.Stats().Depth == 0 {
			return nil
		}
		if !draining && r.sp != nil && time.Since(r.requeueCheck) >= r.opts.RequeuePoll {
			if !r.drainRequeue(ctx) {
				return nil
			}
		}
		wasHeld, heldAt := r.held != nil, r.heldAt
		rec, timedOut, err := r.next(ctx, draining)
		taken := r.clk.Now()
		if wasHeld {
			taken = heldAt
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return nil
			}
			if timedOut && draining {
				// Nothing more is readable (records dropped for age are
				// skipped without an ack): caught up.
				return nil
			}
			if timedOut || r.drain.Err() != nil {
				continue
			}
			return fmt.Errorf("publish: %s: %w", r.p.Name(), err)
		}
		if err := b.UnmarshalBinary(rec.Payload); err != nil {
			r.quarantineRecord(rec, "undecodable batch: "+err.Error())
			r.cur.Ack(rec.Seq)
			continue
		}
		b.ID = rec.Seq
		last := r.merge(ctx, &b, rec.Seq)
		last = r.pack(ctx, &b, last, taken)
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
// record's seq. It stops before a record that announces a restart
// (Batch.Restart), so every announcement is at the start of a Send.
func (r *Runner) merge(ctx context.Context, b *pipeline.Batch, last uint64) uint64 {
	pk := r.packer()
	fits := pk != nil && pk.Fits(b)
	for len(b.Readings) < r.opts.MergeReadings {
		wctx, cancel := context.WithTimeout(ctx, mergeWait)
		rec, err := r.cur.Next(wctx)
		cancel()
		if err != nil {
			return last
		}
		if err := r.scratch.UnmarshalBinary(rec.Payload); err != nil {
			r.quarantineRecord(rec, "undecodable batch: "+err.Error())
		} else if r.scratch.Restart != nil {
			// A restart announcement applies at its record's first
			// reading: it starts the next Send.
			r.held = &spool.Record{Seq: rec.Seq, Payload: slices.Clone(rec.Payload)}
			return last
		} else {
			n := len(b.Readings)
			b.Readings = append(b.Readings, r.scratch.Readings...)
			if fits && !pk.Fits(b) {
				fits = false
				if !r.backlog(rec.Seq) {
					// Not a backlog: the record starts the next Send
					// rather than spill into a second billing unit.
					b.Readings = b.Readings[:n]
					r.held, r.heldAt = &rec, r.clk.Now()
					return last
				}
			}
		}
		last = rec.Seq
	}
	return last
}
