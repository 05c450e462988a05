package mqtt

import (
	"context"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

// pacer spaces publishes to at most rate per second, allowing a burst of up
// to one second's worth. It is safe for concurrent use.
type pacer struct {
	clk      clock.Clock
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration
	next     time.Time
}

func newPacer(rate int, clk clock.Clock) *pacer {
	iv := time.Second / time.Duration(rate)
	return &pacer{clk: clk, interval: iv, burst: time.Second}
}

// wait blocks until the next publish may go, or ctx ends.
func (r *pacer) wait(ctx context.Context) error {
	r.mu.Lock()
	now := r.clk.Now()
	if r.next.Before(now.Add(-r.burst)) {
		r.next = now.Add(-r.burst)
	}
	r.next = r.next.Add(r.interval)
	at := r.next
	r.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	return r.clk.Sleep(ctx, d)
}
