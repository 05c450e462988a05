// Package clocktest provides a fake clock.Clock for tests, the way
// net/http/httptest provides a test server: time moves only when the test
// says so.
//
// A [New] clock stands still until the test calls [Fake.Advance]; a wait
// (After, Sleep) ends once the clock has been advanced past its deadline.
// A [NewAuto] clock moves by exactly what the code under test waits: Sleep
// and After return at once with the clock d later, so a retry loop with
// backoff runs in no wall time.
//
// Only tests import this package; no production binary links it.
package clocktest

import (
	"context"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

var _ clock.Clock = (*Fake)(nil)

// Fake is a clock.Clock that moves only when told to. It is safe for
// concurrent use.
type Fake struct {
	auto bool

	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	record  bool            // keep started waits for NextWait
	waits   []time.Duration // started waits not yet taken by NextWait
	waited  chan struct{}   // closed and replaced when a wait starts
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock at start that moves only on Advance.
func New(start time.Time) *Fake {
	return &Fake{now: start, waited: make(chan struct{})}
}

// NewAuto returns a clock at start that also moves by every wait: Sleep and
// After advance it by d and return at once.
func NewAuto(start time.Time) *Fake {
	c := New(start)
	c.auto = true
	return c
}

// Now is the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d and delivers every wait that is due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(d)
}

func (c *Fake) advance(d time.Duration) {
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	clear(c.waiters[len(keep):])
	c.waiters = keep
}

// After delivers the clock's time once it has moved d on: at once for
// d <= 0 or on an auto clock (which moves by d), else at the Advance that
// reaches the deadline.
func (c *Fake) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started(d)
	ch := make(chan time.Time, 1)
	switch {
	case c.auto:
		c.advance(max(d, 0))
		ch <- c.now
	case d <= 0:
		ch <- c.now
	default:
		c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	}
	return ch
}

// Sleep waits for d of the clock's time, or until ctx is done. On an auto
// clock it returns at once with the clock d later, unless ctx is already
// done (then the clock does not move).
func (c *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if c.auto {
		if err := ctx.Err(); err != nil {
			return err
		}
		<-c.After(d)
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.After(d):
		return nil
	}
}

// started records a wait of d for NextWait; c.mu is held.
func (c *Fake) started(d time.Duration) {
	if !c.record {
		return
	}
	c.waits = append(c.waits, d)
	close(c.waited)
	c.waited = make(chan struct{})
}

// Waiters is the number of waits that Advance has not yet delivered.
func (c *Fake) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// RecordWaits makes the clock keep every wait that starts from now on, for
// NextWait. Clocks do not record by default, so that a benchmark's waits
// cost nothing.
func (c *Fake) RecordWaits() *Fake {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record = true
	return c
}

// NextWait returns the duration of the oldest wait (After or Sleep) not
// yet returned by NextWait (see RecordWaits), waiting up to timeout of wall time for one to
// start. ok is false when none started in time.
func (c *Fake) NextWait(timeout time.Duration) (d time.Duration, ok bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if len(c.waits) > 0 {
			d = c.waits[0]
			c.waits = c.waits[1:]
			c.mu.Unlock()
			return d, true
		}
		ch := c.waited
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return 0, false
		}
	}
}
