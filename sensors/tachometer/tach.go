package tachometer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
)

// Opts configures a Tach. The zero value of a field means its default.
type Opts struct {
	// MarkEdge is the transition at the mark's leading edge (default Rising).
	MarkEdge Edge
	// MarksPerRev is the number of marks on the wheel (default 1), evenly
	// spaced. Periods below are between marks; speeds are per revolution.
	MarksPerRev int
	// MinRPM is the slowest speed measured (default 20): a longer period
	// restarts the measurement instead of producing a speed.
	MinRPM float64
	// MaxRPM is the fastest plausible speed (default 3600): a mark closer
	// than one mark period at MaxRPM after the accepted one is rejected as
	// a glitch.
	MaxRPM float64
	// StallTimeout: with no mark for max(3 periods, StallTimeout) the
	// flywheel has stopped (default 2 s).
	StallTimeout time.Duration
	// GlitchMin is the shortest pulse (time between two edges of opposite
	// polarity) that counts; shorter pulses are chatter or noise and are
	// dropped in pairs (default 100 us). The TCRT5000's mark is far wider:
	// 10 degrees at 3000 RPM is 555 us.
	GlitchMin time.Duration
	// Average is the most periods averaged into one speed (default 8);
	// together with Window it trades jitter for response time.
	Average int
	// Window is the longest span averaged into one speed (default 1 s); a
	// single period is always used, however long.
	Window time.Duration
	// IdleInterval repeats speed 0 while the flywheel stands still, so the
	// pipeline sees a stopped engine (default StallTimeout, negative: never).
	IdleInterval time.Duration
	// Clock times the stall and idle decisions (default clock.Real). It
	// must be the clock the source's Edge.Wall times come from.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultOpts returns the defaults.
func DefaultOpts() Opts {
	return Opts{
		MarkEdge:     Rising,
		MarksPerRev:  1,
		MinRPM:       20,
		MaxRPM:       3600,
		StallTimeout: 2 * time.Second,
		GlitchMin:    100 * time.Microsecond,
		Average:      8,
		Window:       time.Second,
		Clock:        clock.Real{},
	}
}

// withDefaults fills zero fields.
func (o Opts) withDefaults() Opts {
	d := DefaultOpts()
	if o.MarksPerRev == 0 {
		o.MarksPerRev = d.MarksPerRev
	}
	if o.MinRPM == 0 {
		o.MinRPM = d.MinRPM
	}
	if o.MaxRPM == 0 {
		o.MaxRPM = d.MaxRPM
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = d.StallTimeout
	}
	if o.GlitchMin == 0 {
		o.GlitchMin = d.GlitchMin
	}
	if o.Average == 0 {
		o.Average = d.Average
	}
	if o.Window == 0 {
		o.Window = d.Window
	}
	if o.IdleInterval == 0 {
		o.IdleInterval = o.StallTimeout
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// maxAverage bounds Opts.Average (the ring of marks is fixed-size).
const maxAverage = 64

// Validate names the first bad option.
func (o Opts) Validate() error {
	switch {
	case o.MarkEdge != Rising && o.MarkEdge != Falling:
		return fmt.Errorf("%w: mark_edge %d", ErrOpts, o.MarkEdge)
	case o.MarksPerRev < 1 || o.MarksPerRev > 64:
		return fmt.Errorf("%w: marks_per_rev %d (want 1..64)", ErrOpts, o.MarksPerRev)
	case !(o.MinRPM > 0) || math.IsInf(o.MinRPM, 0):
		return fmt.Errorf("%w: min_rpm %g (want > 0)", ErrOpts, o.MinRPM)
	case !(o.MaxRPM > o.MinRPM) || o.MaxRPM > 100000:
		return fmt.Errorf("%w: max_rpm %g (want min_rpm < max_rpm <= 100000)", ErrOpts, o.MaxRPM)
	case o.StallTimeout <= 0:
		return fmt.Errorf("%w: stall_timeout %v (want > 0)", ErrOpts, o.StallTimeout)
	case o.GlitchMin < 0 || o.GlitchMin > lockout(o.MaxRPM, o.MarksPerRev)/4:
		return fmt.Errorf("%w: glitch_min %v (want 0..%v, a quarter of the mark period at max_rpm)", ErrOpts, o.GlitchMin, lockout(o.MaxRPM, o.MarksPerRev)/4)
	case o.Average < 1 || o.Average > maxAverage:
		return fmt.Errorf("%w: average %d (want 1..%d)", ErrOpts, o.Average, maxAverage)
	case o.Window < 0:
		return fmt.Errorf("%w: window %v (want >= 0)", ErrOpts, o.Window)
	}
	return nil
}

// lockout is the mark period at maxRPM.
func lockout(maxRPM float64, marks int) time.Duration {
	return time.Duration(60e9 / maxRPM / float64(marks))
}

// EventKind is "start" or "stop".
type EventKind string

// Event kinds.
const (
	Start EventKind = "start" // the flywheel turns: first speed after standstill
	Stop  EventKind = "stop"  // the flywheel stalled
)

// Event marks the flywheel starting or stopping.
type Event struct {
	Time time.Time // the mark that closed the first period, or the stall decision
	Kind EventKind
	RPM  float64 // the first speed for Start; for Stop the last speed before the stall
}

// Stats are the tachometer's counters since New. All counts are totals.
type Stats struct {
	Edges     uint64  // edges read from the source
	Marks     uint64  // mark edges that passed the pulse-width filter
	Speeds    uint64  // speeds produced (including zeros)
	Glitches  uint64  // pulses shorter than GlitchMin plus marks inside the lock-out
	Outliers  uint64  // periods rejected by the median test (missed or extra marks)
	Overflows uint64  // sequence-number gaps (the kernel FIFO overflowed)
	Lost      uint64  // edges lost in those gaps
	Stalls    uint64  // stop events
	Starts    uint64  // start events
	Dropped   uint64  // speeds and events not delivered because a channel was full
	Precise   bool    // the last mark carried a kernel timestamp
	RPM       float64 // the last speed produced
}

// Tach measures the flywheel's speed from a Source.
type Tach struct {
	src      Source
	o        Opts
	markOnly bool
	log      *slog.Logger
	running  atomic.Bool

	edges, marks, speeds, glitches, outliers atomic.Uint64
	overflows, lost, stalls, starts, dropped atomic.Uint64
	precise                                  atomic.Bool
	rpm                                      atomic.Uint64 // math.Float64bits
}

// ErrRunning is returned by a second concurrent Run.
var ErrRunning = errors.New("tachometer: already running")

// New returns a tachometer reading src. opts may be nil for the defaults.
func New(src Source, opts *Opts) (*Tach, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil source", ErrOpts)
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	mo, _ := src.(MarkOnly)
	return &Tach{
		src:      src,
		o:        o,
		markOnly: mo != nil && mo.MarkOnly(),
		log:      o.Logger.With("component", "tachometer"),
	}, nil
}

// Stats returns the counters; safe to call at any time.
func (t *Tach) Stats() Stats {
	return Stats{
		Edges:     t.edges.Load(),
		Marks:     t.marks.Load(),
		Speeds:    t.speeds.Load(),
		Glitches:  t.glitches.Load(),
		Outliers:  t.outliers.Load(),
		Overflows: t.overflows.Load(),
		Lost:      t.lost.Load(),
		Stalls:    t.stalls.Load(),
		Starts:    t.starts.Load(),
		Dropped:   t.dropped.Load(),
		Precise:   t.precise.Load(),
		RPM:       math.Float64frombits(t.rpm.Load()),
	}
}

// batchSize is the most edges read from the source at once.
const batchSize = 128

// Run reads the source until ctx is done and sends a speed for every
// accepted mark, speed 0 on a stall and every IdleInterval while stopped,
// and start/stop events. events may be nil. Sends never block: when a
// channel is full the value is dropped and counted (Stats.Dropped), so a
// slow consumer cannot make the kernel's event FIFO overflow. Run returns
// nil when ctx is done or the source was closed, else the source's error.
func (t *Tach) Run(ctx context.Context, speeds chan<- sensors.Speed, events chan<- Event) error {
	if !t.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer t.running.Store(false)
	if ds, ok := t.src.(DeadlineSource); ok {
		return t.runInline(ctx, ds, speeds, events)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The reader fills batches from a small pool so the kernel is drained
	// while the filter works; nothing is allocated per edge.
	free := make(chan []sensors.Edge, 4)
	full := make(chan []sensors.Edge, 4)
	for range cap(free) {
		free <- make([]sensors.Edge, batchSize)
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			var b []sensors.Edge
			select {
			case b = <-free:
			case <-ctx.Done():
				readErr <- nil
				return
			}
			n, err := t.src.ReadEdges(ctx, b[:batchSize])
			if n > 0 {
				full <- b[:n]
			} else {
				free <- b
			}
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()

	clk := t.o.Clock
	hz, _ := t.src.(HorizonSource)
	f := newFilter(t, clk.Now(), speeds, events)
	var armed time.Time
	var timer <-chan time.Time
	arm := func() {
		d := f.deadline()
		if d.IsZero() || (timer != nil && !d.Before(armed)) {
			return
		}
		armed = d
		timer = clk.After(max(d.Sub(clk.Now()), 0))
	}
	process := func(b []sensors.Edge) {
		for i := range b {
			f.edge(b[i])
		}
		t.edges.Add(uint64(len(b)))
		free <- b
	}
	for {
		arm()
		select {
		case b := <-full:
			process(b)
		case <-timer:
			timer = nil
			now := clk.Now()
			at := now
			if hz != nil {
				// Read the horizon before draining: every edge up to it
				// is then processed.
				if h := hz.Horizon(); h.Before(at) {
					at = h
				}
			}
			// Edges already read come first: they happened before now.
			for drained := false; !drained; {
				select {
				case b := <-full:
					process(b)
				default:
					drained = true
				}
			}
			f.tick(at)
			if d := f.deadline(); at.Before(now) && !d.IsZero() && !d.After(now) {
				// The source lags behind the clock: decide once it has
				// caught up. A short real-time poll; this is rare.
				timer, armed = time.After(time.Millisecond), time.Time{}
			}
		case err := <-readErr:
			for len(full) > 0 {
				process(<-full)
			}
			if err != nil {
				return fmt.Errorf("tachometer: read edges: %w", err)
			}
			return nil
		}
	}
}

// runInline is Run for a DeadlineSource: one goroutine reads, filters and
// decides, and the source's wait doubles as the stall and idle timer.
func (t *Tach) runInline(ctx context.Context, src DeadlineSource, speeds chan<- sensors.Speed, events chan<- Event) error {
	clk := t.o.Clock
	f := newFilter(t, clk.Now(), speeds, events)
	buf := make([]sensors.Edge, batchSize)
	for {
		d := f.deadline()
		n, err := src.ReadEdgesUntil(ctx, buf, d)
		for i := range buf[:n] {
			f.edge(buf[i])
		}
		t.edges.Add(uint64(n))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return fmt.Errorf("tachometer: read edges: %w", err)
		}
		if n > 0 || d.IsZero() {
			continue
		}
		// The deadline passed with no edge due: decide up to the horizon.
		at := clk.Now()
		if h := src.Horizon(); h.Before(at) {
			at = h
		}
		f.tick(at)
		if at.Before(d) {
			// The source lags behind the clock (it should not); do not spin.
			if err := clk.Sleep(ctx, time.Millisecond); err != nil {
				return nil
			}
		}
	}
}
