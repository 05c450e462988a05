package tachometer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// Source delivers the edges of the tachometer line in time order.
type Source interface {
	// ReadEdges blocks until at least one edge is available or ctx is
	// done, then fills buf with up to len(buf) edges and returns how many.
	// It returns ctx.Err() once ctx is done, and ErrClosed after Close.
	ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error)
}

// MarkOnly is implemented by sources that deliver only the mark's leading
// edge (the periph fallback). The tachometer then cannot measure pulse
// widths and filters on the lock-out and the median test alone.
type MarkOnly interface {
	MarkOnly() bool
}

// HorizonSource is implemented by sources that can fall behind the clock
// the tachometer decides stalls on, like the simulator on an accelerated
// clock, where a scheduling delay of a few milliseconds is seconds of
// engine time. Horizon returns a time up to which every edge was returned
// by a ReadEdges call that completed before the current call began. The
// tachometer makes its time-driven decisions (stall, idle zeros) only up to
// the horizon, so a late reader cannot cause a false stall.
type HorizonSource interface {
	Source
	Horizon() time.Time
}

// DeadlineSource is implemented by sources that can stop waiting at a time
// of the tachometer's clock and lose nothing while nobody reads them (the
// simulator). Run then reads such a source in its own goroutine, with its
// next time-driven decision as the deadline, instead of handing batches over
// from a reader goroutine: one wake-up per batch instead of two, and no
// timer of its own. ReadEdgesUntil is ReadEdges that returns 0, nil once the
// clock reached deadline with no edge due, after moving the horizon to at
// least that time; a zero deadline means none.
type DeadlineSource interface {
	HorizonSource
	ReadEdgesUntil(ctx context.Context, buf []sensors.Edge, deadline time.Time) (int, error)
}

// Sentinel errors.
var (
	// ErrClosed is returned by a source used after Close.
	ErrClosed = errors.New("tachometer: source closed")
	// ErrNotFound is wrapped when no GPIO chip or line matches the request.
	ErrNotFound = errors.New("tachometer: gpio line not found")
	// ErrOpts is wrapped by every options validation error.
	ErrOpts = errors.New("tachometer: invalid options")
	// ErrUnsupported is returned by the character-device source on systems
	// other than Linux.
	ErrUnsupported = errors.New("tachometer: gpio character device needs linux")
)

// Edge selects which transition of the line is the mark's leading edge.
type Edge int

// Mark edges. The TCRT5000 module's D0 goes high while the black mark is in
// front of it (no reflection), so the default is Rising.
const (
	Rising Edge = iota
	Falling
)

// String is "rising" or "falling".
func (e Edge) String() string {
	if e == Falling {
		return "falling"
	}
	return "rising"
}

// ParseEdge parses "rising" or "falling".
func ParseEdge(s string) (Edge, error) {
	switch s {
	case "rising", "":
		return Rising, nil
	case "falling":
		return Falling, nil
	}
	return Rising, fmt.Errorf("%w: mark edge %q (want rising or falling)", ErrOpts, s)
}

// Bias is the line's pull resistor.
type Bias int

// Biases. The TCRT5000 module has its own 10 kOhm pull-up on D0, so the
// Pi's pull-up is harmless and keeps the line defined when it is unplugged.
const (
	PullUp Bias = iota
	PullDown
	BiasDisabled
	BiasAsIs // leave the line's bias unchanged
)

// ParseBias parses "pull_up", "pull_down", "disabled" (or "disable") or
// "as_is".
func ParseBias(s string) (Bias, error) {
	switch s {
	case "pull_up", "":
		return PullUp, nil
	case "pull_down":
		return PullDown, nil
	case "disabled", "disable":
		return BiasDisabled, nil
	case "as_is":
		return BiasAsIs, nil
	}
	return PullUp, fmt.Errorf("%w: bias %q (want pull_up, pull_down, disabled or as_is)", ErrOpts, s)
}

// String is the config spelling of b.
func (b Bias) String() string {
	switch b {
	case PullDown:
		return "pull_down"
	case BiasDisabled:
		return "disabled"
	case BiasAsIs:
		return "as_is"
	}
	return "pull_up"
}
