package tachometer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// ChardevOpts configures OpenChardev.
type ChardevOpts struct {
	// Chip selects the GPIO chip: "" for the first chip whose label starts
	// with "pinctrl-" (pinctrl-bcm2711 on a Pi 4, pinctrl-rp1 on a Pi 5), or
	// a chip name ("gpiochip0"), device path ("/dev/gpiochip0") or label.
	Chip string
	// Line is the line name ("GPIO4", the default) or its offset on the
	// chip ("4"). A device path in Chip with a numeric Line skips periph's
	// chip discovery altogether.
	Line string
	// Bias is the pull resistor requested with the line.
	Bias Bias
	// EventBuffer is the kernel's event FIFO for the line, in events
	// (default 256, 64 to 1024; the kernel default of 16 overflows after
	// 160 ms without a read at 3000 RPM, and the kernel caps it at 1024).
	EventBuffer int
	// Consumer is the label shown by gpioinfo (default "stirling").
	Consumer string
	// Logger receives overflow warnings; nil discards.
	Logger *slog.Logger
}

// DefaultChardevOpts returns the defaults OpenChardev uses for every zero
// field: the first pinctrl chip, line GPIO4, bias as is.
func DefaultChardevOpts() ChardevOpts {
	return ChardevOpts{Line: "GPIO4", EventBuffer: defaultEventBuffer, Consumer: "stirling", Logger: slog.New(slog.DiscardHandler)}
}

// ChardevStats are the character-device source's counters.
type ChardevStats struct {
	Events    uint64 // events read from the kernel
	Overflows uint64 // sequence-number gaps: the kernel FIFO overflowed
	Lost      uint64 // events lost in those gaps
}

// Chardev reads edges with kernel timestamps from a GPIO line request
// (Linux GPIO character device, uAPI v2). Close it when done. ReadEdges is
// meant for one goroutine; Stats and Close may be called from any.
type Chardev struct {
	name string
	r    io.Reader
	f    *os.File // the line request fd; nil when reading a plain io.Reader
	now  func() (time.Time, time.Duration)
	log  *slog.Logger

	mu   sync.Mutex // serialises ReadEdges
	raw  []byte
	pend int
	dec  decoder

	events, overflows, lost atomic.Uint64
	closed                  atomic.Bool
}

// newChardev wraps an event stream. now returns the wall clock and
// CLOCK_MONOTONIC sampled together; each read uses one sample to place the
// kernel timestamps on the wall clock.
func newChardev(name string, r io.Reader, f *os.File, bufEvents int, now func() (time.Time, time.Duration), log *slog.Logger) *Chardev {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Chardev{
		name: name,
		r:    r,
		f:    f,
		now:  now,
		log:  log.With("component", "tachometer", "source", name),
		raw:  make([]byte, bufEvents*uapiEventSize),
	}
}

// String names the chip and line.
func (c *Chardev) String() string { return c.name }

// Stats returns the counters.
func (c *Chardev) Stats() ChardevStats {
	return ChardevStats{Events: c.events.Load(), Overflows: c.overflows.Load(), Lost: c.lost.Load()}
}

// longAgo is a read deadline in the past: it wakes a blocked read.
var longAgo = time.Unix(1, 0)

// ReadEdges implements Source. It blocks until the kernel has at least one
// event, then returns every complete event that fits in buf.
func (c *Chardev) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	want := min(len(buf), len(c.raw)/uapiEventSize)
	for c.pend < uapiEventSize {
		if c.closed.Load() {
			return 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := c.read(ctx, c.raw[c.pend:want*uapiEventSize])
		c.pend += n
		if c.pend >= uapiEventSize {
			break
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A deadline left over from an earlier, cancelled call.
		case errors.Is(err, os.ErrClosed) || c.closed.Load():
			return 0, ErrClosed
		default:
			return 0, fmt.Errorf("tachometer: read %s events: %w", c.name, err)
		}
	}
	return c.decodePending(buf[:want]), nil
}

// read does one read, woken early when ctx ends.
func (c *Chardev) read(ctx context.Context, p []byte) (int, error) {
	if c.f == nil {
		return c.r.Read(p)
	}
	if err := c.f.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.f.SetReadDeadline(longAgo) })
	defer stop()
	return c.r.Read(p)
}

// decodePending turns the complete events in raw into edges and keeps a
// partial trailing event for the next read.
func (c *Chardev) decodePending(buf []sensors.Edge) int {
	wall, mono := c.now()
	n := min(c.pend/uapiEventSize, len(buf))
	for i := range n {
		ev := parseEvent(c.raw[i*uapiEventSize:])
		e, g := c.dec.decode(ev, wall, mono)
		buf[i] = e
		if g.lost > 0 {
			c.overflows.Add(1)
			c.lost.Add(g.lost)
			c.log.Warn("gpio event fifo overflowed", "lost", g.lost, "seq", e.Seq)
		}
	}
	c.events.Add(uint64(n))
	used := n * uapiEventSize
	c.pend = copy(c.raw, c.raw[used:c.pend])
	return n
}

// Close releases the line. A blocked ReadEdges returns ErrClosed.
func (c *Chardev) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.f != nil {
		if err := c.f.Close(); err != nil {
			return fmt.Errorf("tachometer: close %s: %w", c.name, err)
		}
	}
	return nil
}

var _ Source = (*Chardev)(nil)
