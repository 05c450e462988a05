package mqtt

import (
	"context"
	"sync"
	"testing"
	"time"
)

// stepClock is a clock.Clock whose Sleep returns at once and moves the
// time on by what was asked.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.Now().Add(d)
	return ch
}

// TestPacer: on the injected clock, a second's worth of publishes goes at
// once, and each further one waits one interval.
func TestPacer(t *testing.T) {
	clk := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(10, clk)
	for i := range 13 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
	if len(clk.slept) != 3 {
		t.Fatalf("slept %v, want 3 waits after a burst of 10", clk.slept)
	}
	for _, d := range clk.slept {
		if d != 100*time.Millisecond {
			t.Errorf("slept %v, want 100ms each", clk.slept)
			break
		}
	}
}
