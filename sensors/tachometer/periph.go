package tachometer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/stirling-iot/stirling/sensors"
)

// PeriphOpts configures the periph fallback source.
type PeriphOpts struct {
	// MarkEdge is the edge periph waits for; the source sees nothing else.
	MarkEdge Edge
	// Bias is the pull resistor (BiasAsIs leaves it unchanged).
	Bias Bias
	// Poll bounds each WaitForEdge call so ReadEdges notices a cancelled
	// context (default 100 ms). Always positive: periph's gpioioctl returns
	// at once for -1 and never for 0 (periph/host#78).
	Poll time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultPeriphOpts returns the defaults NewPeriph uses for every zero
// field: the rising edge, bias as is, a 100 ms poll.
func DefaultPeriphOpts() PeriphOpts {
	return PeriphOpts{Poll: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

// Periph is the fallback source: periph's gpio.PinIn.WaitForEdge, stamped
// with the user-space monotonic clock when the waiting goroutine wakes.
// Periods carry the scheduler's wake-up latency (tens of microseconds to
// milliseconds), edges queued during a stall come out with nearly equal
// stamps, and lost edges cannot be detected, so its edges are marked
// imprecise. It delivers only mark edges.
type Periph struct {
	pin    gpio.PinIn
	rising bool
	poll   time.Duration
	base   time.Time // monotonic origin of Mono
	seq    uint64
	log    *slog.Logger
	closed atomic.Bool
}

// OpenPeriph initialises periph's host drivers and opens the named pin
// ("GPIO4", "P1_7"); see NewPeriph.
func OpenPeriph(ctx context.Context, name string, opts *PeriphOpts) (*Periph, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("tachometer: periph init: %w", err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("%w: periph has no pin %q (is the user in group gpio?)", ErrNotFound, name)
	}
	return NewPeriph(p, opts)
}

// NewPeriph configures pin as an input that reports opts.MarkEdge. A nil
// opts means DefaultPeriphOpts.
func NewPeriph(pin gpio.PinIn, o *PeriphOpts) (*Periph, error) {
	var opts PeriphOpts
	if o != nil {
		opts = *o
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	edge := gpio.RisingEdge
	if opts.MarkEdge == Falling {
		edge = gpio.FallingEdge
	}
	pull := gpio.PullUp
	switch opts.Bias {
	case PullDown:
		pull = gpio.PullDown
	case BiasDisabled:
		pull = gpio.Float
	case BiasAsIs:
		pull = gpio.PullNoChange
	}
	if err := pin.In(pull, edge); err != nil {
		return nil, fmt.Errorf("tachometer: configure %s: %w", pin, err)
	}
	p := &Periph{
		pin:    pin,
		rising: opts.MarkEdge == Rising,
		poll:   opts.Poll,
		base:   time.Now(),
		log:    log.With("component", "tachometer", "source", pin.String()),
	}
	p.log.Warn("using periph fallback: user-space timestamps, lower precision", "precise", false, "mark_edge", opts.MarkEdge)
	return p, nil
}

// String names the pin.
func (p *Periph) String() string { return p.pin.String() }

// MarkOnly reports true: the fallback waits for the mark edge only.
func (p *Periph) MarkOnly() bool { return true }

// ReadEdges implements Source: one edge per call, stamped on wake-up.
func (p *Periph) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	for {
		if p.closed.Load() {
			return 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if !p.pin.WaitForEdge(p.poll) {
			continue
		}
		now := time.Now()
		p.seq++
		buf[0] = sensors.Edge{
			Mono:    now.Sub(p.base),
			Wall:    now,
			Rising:  p.rising,
			Seq:     p.seq,
			Precise: false,
		}
		return 1, nil
	}
}

// Close halts the pin; a blocked ReadEdges returns within Poll.
func (p *Periph) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if err := p.pin.Halt(); err != nil {
		return fmt.Errorf("tachometer: halt %s: %w", p.pin, err)
	}
	return nil
}

var (
	_ Source   = (*Periph)(nil)
	_ MarkOnly = (*Periph)(nil)
)
