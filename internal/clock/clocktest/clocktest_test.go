package clocktest

import (
	"context"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManual(t *testing.T) {
	c := New(start).RecordWaits()
	ch := c.After(2 * time.Second)
	if c.Waiters() != 1 {
		t.Fatalf("%d waiters, want 1", c.Waiters())
	}
	c.Advance(time.Second)
	select {
	case <-ch:
		t.Fatal("delivered before its deadline")
	default:
	}
	c.Advance(time.Second)
	if got := <-ch; !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("delivered %v", got)
	}
	if c.Waiters() != 0 {
		t.Fatalf("%d waiters after delivery", c.Waiters())
	}
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
	for _, want := range []time.Duration{2 * time.Second, 0} {
		if d, ok := c.NextWait(time.Second); !ok || d != want {
			t.Fatalf("NextWait = %v, %v; want %v", d, ok, want)
		}
	}
	if _, ok := c.NextWait(10 * time.Millisecond); ok {
		t.Fatal("NextWait reported a wait that did not start")
	}
}

func TestManualSleep(t *testing.T) {
	c := New(start).RecordWaits()
	done := make(chan error, 1)
	go func() { done <- c.Sleep(context.Background(), time.Minute) }()
	if d, ok := c.NextWait(5 * time.Second); !ok || d != time.Minute {
		t.Fatalf("NextWait = %v, %v", d, ok)
	}
	c.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- c.Sleep(ctx, time.Minute) }()
	c.NextWait(5 * time.Second)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
}

func TestAuto(t *testing.T) {
	c := NewAuto(start)
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if got := <-c.After(time.Second); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("After delivered %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	c.Advance(time.Second)
	if got := c.Now(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("Now = %v", got)
	}
}
