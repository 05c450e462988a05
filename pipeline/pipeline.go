package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
)

// ErrFlushTimeout is returned by Run when batches were still waiting for
// the consumer FlushTimeout after the context was cancelled.
var ErrFlushTimeout = errors.New("pipeline: consumer did not take the last batches in time")

// Pipeline turns frames and speeds into batches of readings:
//
//	HandleFrame (caller's goroutine): region statistics, no allocation
//	   |  bounded channel (QueueLen)
//	Run (one goroutine): validate -> Hampel -> EMA -> window -> deadband -> batch
//	   |  pending batches (at most MaxPending; beyond, the oldest is dropped and counted)
//	out channel (the spool)
//
// Windows are driven by the sensor timestamps: a reading of a later
// window closes the earlier one, and the clock closes a window nobody
// writes to any more once its end plus WindowGrace has passed.
type Pipeline struct {
	o      Opts
	clk    clock.Clock
	log    *slog.Logger
	rois   atomic.Pointer[sensors.ROIs]
	frames chan frameStats
	speeds chan sensors.Speed
	c      counters
	k      *core
	run    atomic.Bool
}

// New returns a pipeline measuring rois. opts are validated; a nil opts
// means DefaultOpts.
func New(rois sensors.ROIs, opts *Opts) (*Pipeline, error) {
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := rois.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p := &Pipeline{
		o:      o,
		clk:    o.Clock,
		log:    o.Logger,
		frames: make(chan frameStats, o.QueueLen),
		speeds: make(chan sensors.Speed, o.QueueLen),
	}
	if p.clk == nil {
		p.clk = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p.log = p.log.With("component", "pipeline")
	p.rois.Store(&rois)
	p.k = newCore(o, &p.c, p.clk.Now, nil)
	return p, nil
}

// SetROIs replaces the regions from the next frame on (live reload after
// calibration). It is safe to call from any goroutine; frames already
// handed over keep the statistics they were computed with.
func (p *Pipeline) SetROIs(r sensors.ROIs) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.rois.Store(&r)
	p.log.Info("regions replaced", "hot_cylinder", r.HotCylinder.String(),
		"cold_cylinder", r.ColdCylinder.String(), "flame", r.Flame.String())
	return nil
}

// ROIs returns the regions in use.
func (p *Pipeline) ROIs() sensors.ROIs { return *p.rois.Load() }

// HandleFrame computes the region statistics of f in the caller's
// goroutine and queues them for Run. It does not keep f. It blocks only
// while the queue is full, until ctx is done.
func (p *Pipeline) HandleFrame(ctx context.Context, f *sensors.Frame) error {
	r := p.rois.Load()
	ts := f.Time
	if ts.IsZero() {
		p.c.untimed.Add(1)
		ts = p.clk.Now()
	}
	fs := frameStats{t: ts.UnixNano()}
	for i, n := range r.Named() {
		fs.roi[i] = RegionStats(f, n.ROI, p.o.ROI)
	}
	select {
	case p.frames <- fs:
		return nil
	default:
	}
	p.c.framesQueueFull.Add(1)
	select {
	case p.frames <- fs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HandleSpeed queues one tachometer reading for Run, blocking only while
// the queue is full, until ctx is done.
func (p *Pipeline) HandleSpeed(ctx context.Context, s sensors.Speed) error {
	select {
	case p.speeds <- s:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Speeds is the speed queue, for wiring a tachometer's channel directly.
func (p *Pipeline) Speeds() chan<- sensors.Speed { return p.speeds }

// Run processes frames and speeds until ctx is done, sending finished
// batches to out. On cancellation it takes what is already queued, closes
// the open windows, flushes the last batch and hands the waiting batches
// to out within FlushTimeout; then it closes out and returns nil (or
// ErrFlushTimeout). The consumer should read out until it is closed. Run
// may be called once.
func (p *Pipeline) Run(ctx context.Context, out chan<- *Batch) error {
	if !p.run.CompareAndSwap(false, true) {
		return errors.New("pipeline: Run called twice")
	}
	defer close(out)
	var pending []*Batch
	p.k.emit = func(b *Batch) {
		if len(pending) >= p.o.MaxPending {
			p.c.batchesDropped.Add(1)
			p.c.readingsDropped.Add(uint64(len(pending[0].Readings)))
			p.log.Error("batch dropped: consumer too slow", "readings", len(pending[0].Readings), "pending", len(pending))
			pending[0] = nil
			pending = pending[1:]
		}
		pending = append(pending, b)
		p.c.pendingBatches.Store(int64(len(pending)))
	}
	var (
		armed  time.Time
		timerC <-chan time.Time
	)
	for {
		var sendC chan<- *Batch
		var head *Batch
		if len(pending) > 0 {
			sendC, head = out, pending[0]
		}
		if d := p.k.deadline(); !d.Equal(armed) {
			armed, timerC = d, nil
			if !d.IsZero() {
				timerC = p.clk.After(max(d.Sub(p.clk.Now()), 0))
			}
		}
		select {
		case <-ctx.Done():
			return p.shutdown(out, pending)
		case fs := <-p.frames:
			p.k.frame(&fs)
		case s := <-p.speeds:
			p.speed(&s)
		case sendC <- head:
			pending[0] = nil
			pending = pending[1:]
			p.c.pendingBatches.Store(int64(len(pending)))
		case <-timerC:
			armed, timerC = time.Time{}, nil
			p.k.tick(p.clk.Now())
		}
	}
}

func (p *Pipeline) speed(s *sensors.Speed) {
	if s.Time.IsZero() {
		p.c.untimed.Add(1)
		s.Time = p.clk.Now()
	}
	p.k.speed(s)
}

func (p *Pipeline) shutdown(out chan<- *Batch, pending []*Batch) error {
	p.k.emit = func(b *Batch) { pending = append(pending, b) }
	for drained := false; !drained; {
		select {
		case fs := <-p.frames:
			p.k.frame(&fs)
		case s := <-p.speeds:
			p.speed(&s)
		default:
			drained = true
		}
	}
	p.k.closeAll()
	p.k.flush()
	timer := time.NewTimer(p.o.FlushTimeout)
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case out <- pending[0]:
			pending = pending[1:]
		case <-timer.C:
			n := 0
			for _, b := range pending {
				n += len(b.Readings)
			}
			p.c.batchesDropped.Add(uint64(len(pending)))
			p.c.readingsDropped.Add(uint64(n))
			p.log.Error("batches lost at shutdown", "batches", len(pending), "readings", n)
			return fmt.Errorf("%w: %d batches, %d readings", ErrFlushTimeout, len(pending), n)
		}
	}
	p.c.pendingBatches.Store(0)
	return nil
}

// Stats are the pipeline's counters, for the status page and Prometheus.
// Counters only grow; PendingBatches, EngineState, LastWindow and Latest
// are current values.
type Stats struct {
	Frames uint64 // frames processed by Run
	Speeds uint64 // tachometer readings processed
	// FramesQueueFull counts HandleFrame calls that found the queue full
	// and had to wait.
	FramesQueueFull uint64
	// ReadingsIn counts samples entering validation (frames yield 18
	// each, speeds 1); ReadingsOut counts readings put into batches.
	ReadingsIn, ReadingsOut uint64
	// OutOfRange counts samples outside their metric's range, per metric
	// (they go on marked BAD, never silently dropped).
	OutOfRange map[string]uint64
	// NaN counts NaN or infinite samples (sent as BAD with value 0).
	NaN uint64
	// Spikes counts samples the Hampel filter rejected, per metric.
	Spikes map[string]uint64
	// DeadbandSuppressed counts window aggregates held back by a deadband.
	DeadbandSuppressed uint64
	// Late counts samples for a window already closed (sent on their own).
	Late uint64
	// TimeJumps counts sensor-clock steps backwards by more than ten
	// windows (or 10 s): the open windows are closed and started afresh.
	TimeJumps uint64
	// Untimed counts frames and speeds without a timestamp; they were
	// stamped with the pipeline's clock.
	Untimed uint64
	// ROIBad counts frames whose region statistics were BAD, per region.
	ROIBad  map[string]uint64
	Windows uint64 // windows closed
	Batches uint64 // batches finished
	// BatchesDropped and ReadingsDropped count what was lost because the
	// consumer did not keep up (MaxPending) or at shutdown.
	BatchesDropped, ReadingsDropped uint64
	// PendingBatches is the number of finished batches waiting for the consumer.
	PendingBatches int
	StateChanges   uint64
	EngineState    EngineState
	// LastWindow is the start of the most recently closed window (sensor time).
	LastWindow time.Time
	// Latest is the latest aggregate (or event) of every metric seen,
	// including ones the deadband held back.
	Latest []Reading
}

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	c := &p.c
	s := Stats{
		Frames: c.frames.Load(), Speeds: c.speeds.Load(), FramesQueueFull: c.framesQueueFull.Load(),
		ReadingsIn: c.in.Load(), ReadingsOut: c.out.Load(),
		OutOfRange: map[string]uint64{}, NaN: c.nan.Load(), Spikes: map[string]uint64{},
		DeadbandSuppressed: c.deadband.Load(), Late: c.late.Load(), TimeJumps: c.timeJumps.Load(), Untimed: c.untimed.Load(), ROIBad: map[string]uint64{},
		Windows: c.windows.Load(), Batches: c.batches.Load(),
		BatchesDropped: c.batchesDropped.Load(), ReadingsDropped: c.readingsDropped.Load(),
		PendingBatches: int(c.pendingBatches.Load()),
		StateChanges:   c.stateChanges.Load(), EngineState: EngineState(c.state.Load()),
		Latest: p.k.latestReadings(),
	}
	if t := c.lastWindowClosed.Load(); t != 0 {
		s.LastWindow = time.Unix(0, t).UTC()
	}
	for i := range metricDefs {
		if n := c.outOfRange[i].Load(); n > 0 {
			s.OutOfRange[metricDefs[i].name] = n
		}
		if n := c.spikes[i].Load(); n > 0 {
			s.Spikes[metricDefs[i].name] = n
		}
	}
	for i, name := range [3]string{sensors.HotCylinder, sensors.ColdCylinder, sensors.Flame} {
		s.ROIBad[name] = c.roiBad[i].Load()
	}
	return s
}
