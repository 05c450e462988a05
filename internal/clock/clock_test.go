package clock

import (
	"context"
	"testing"
	"time"
)

func TestScaledRunsFaster(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewScaled(origin, 1000)
	wall := time.Now()
	if err := c.Sleep(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(wall); el > time.Second {
		t.Fatalf("10 virtual seconds at 1000x took %v of wall time", el)
	}
	if got := c.Now().Sub(origin); got < 10*time.Second {
		t.Fatalf("virtual time advanced %v, want at least 10s", got)
	}
	v := <-c.After(5 * time.Second)
	if v.Sub(origin) < 15*time.Second {
		t.Fatalf("After delivered %v, want at least origin+15s", v.Sub(origin))
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Real{}).Sleep(ctx, time.Hour); err == nil {
		t.Fatal("Sleep on a cancelled context returned nil")
	}
}
