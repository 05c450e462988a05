// Package clock lets the simulated engine, the drivers and the pipeline run
// in real time or in accelerated virtual time with the same code.
package clock

import (
	"context"
	"time"
)

// Clock tells time and waits.
type Clock interface {
	// Now is the current (possibly virtual) time. It carries no monotonic
	// reading for a scaled clock; use Since on the same clock for intervals.
	Now() time.Time
	// Sleep waits for d of this clock's time, or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
	// After delivers this clock's time once d of it has passed.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Scaled runs Factor times faster than the wall clock, starting at Origin
// when it is created. An hour of engine at Factor 360 takes ten real seconds.
type Scaled struct {
	origin time.Time // virtual time at start
	start  time.Time // wall time at start, with its monotonic reading
	factor float64
}

// NewScaled returns a clock that starts at origin and runs factor times
// faster than real time. factor must be positive.
func NewScaled(origin time.Time, factor float64) *Scaled {
	if factor <= 0 {
		factor = 1
	}
	return &Scaled{origin: origin.Round(0), start: time.Now(), factor: factor}
}

// Factor is the speed-up.
func (s *Scaled) Factor() float64 { return s.factor }

// Now is the virtual time.
func (s *Scaled) Now() time.Time {
	el := time.Since(s.start)
	return s.origin.Add(time.Duration(float64(el) * s.factor))
}

// real converts a virtual duration to a wall duration.
func (s *Scaled) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.factor)
}

// Sleep waits for d of virtual time.
func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return Real{}.Sleep(ctx, s.real(d))
}

// After delivers the virtual time once d of virtual time has passed.
func (s *Scaled) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(s.real(d), func() { ch <- s.Now() })
	return ch
}
