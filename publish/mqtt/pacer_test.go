package mqtt

import (
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
)

// TestPacer: on the injected clock, a second's worth of publishes goes at
// once, and each further one waits one interval.
func TestPacer(t *testing.T) {
	clk := clocktest.NewAuto(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).RecordWaits()
	p := newPacer(10, clk)
	for i := range 13 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
	var slept []time.Duration
	for {
		d, ok := clk.NextWait(0)
		if !ok {
			break
		}
		slept = append(slept, d)
	}
	if len(slept) != 3 {
		t.Fatalf("slept %v, want 3 waits after a burst of 10", slept)
	}
	for _, d := range slept {
		if d != 100*time.Millisecond {
			t.Errorf("slept %v, want 100ms each", slept)
			break
		}
	}
}
