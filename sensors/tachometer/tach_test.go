package tachometer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
)

// timedSource releases precomputed edges when the clock reaches their
// Wall time, then waits for ctx.
type timedSource struct {
	clk   clock.Clock
	edges []sensors.Edge
}

func (s *timedSource) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	if len(s.edges) == 0 {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if err := s.clk.Sleep(ctx, s.edges[0].Wall.Sub(s.clk.Now())); err != nil {
		return 0, err
	}
	now := s.clk.Now()
	n := 0
	for n < len(buf) && n < len(s.edges) && !s.edges[n].Wall.After(now) {
		n++
	}
	copy(buf, s.edges[:n])
	s.edges = s.edges[n:]
	return n, nil
}

// TestRunStallOnClock runs the whole Tach on a scaled clock: speeds while
// the wheel turns, then, with no edge at all, a zero and a stop event
// stamped exactly max(3 periods, StallTimeout) after the last mark.
func TestRunStallOnClock(t *testing.T) {
	clk := clock.NewScaled(testOrigin, 50)
	w := wheel{rpm: 600, widthDeg: 10, jitter: 5 * time.Microsecond}
	edges := w.edges(200*time.Millisecond, 30)
	lastMark := edges[len(edges)-2].Wall
	o := DefaultOpts()
	o.Clock = clk
	o.IdleInterval = -1
	tach, err := New(&timedSource{clk: clk, edges: edges}, &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	speeds := make(chan sensors.Speed, 100)
	events := make(chan Event, 10)
	done := make(chan error, 1)
	go func() { done <- tach.Run(ctx, speeds, events) }()

	if e := <-events; e.Kind != Start {
		t.Fatalf("first event %+v", e)
	}
	var stop Event
	select {
	case stop = <-events:
	case <-ctx.Done():
		t.Fatal("no stop event")
	}
	if stop.Kind != Stop || !stop.Time.Equal(lastMark.Add(2*time.Second)) {
		t.Errorf("stop %+v, want at last mark + 2s = %v", stop, lastMark.Add(2*time.Second))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	close(speeds)
	var n int
	for s := range speeds {
		if s.RPM == 0 {
			if !s.Time.Equal(stop.Time) {
				t.Errorf("zero at %v, want %v", s.Time, stop.Time)
			}
			continue
		}
		n++
		if s.Frequency() < 9900*physic.MilliHertz || s.Frequency() > 10100*physic.MilliHertz {
			t.Errorf("speed %+v far from 600 rpm", s)
		}
	}
	if st := tach.Stats(); n != 29 || st.Edges != 60 || st.Stalls != 1 || st.Dropped != 0 {
		t.Errorf("%d speeds, stats %+v", n, st)
	}
}

func TestRunConcurrent(t *testing.T) {
	tach, err := New(sliceSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = tach.Run(ctx, nil, nil) })
	time.Sleep(10 * time.Millisecond)
	if err := tach.Run(ctx, nil, nil); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	wg.Wait()
}

// errSource fails.
type errSource struct{}

func (errSource) ReadEdges(context.Context, []sensors.Edge) (int, error) {
	return 0, errors.New("line gone")
}

func TestRunSourceError(t *testing.T) {
	tach, _ := New(errSource{}, nil)
	if err := tach.Run(context.Background(), nil, nil); err == nil || !contains(err.Error(), "line gone") {
		t.Errorf("Run: %v", err)
	}
}

// fakePin is a gpio.PinIn whose edges come from a channel.
type fakePin struct {
	gpio.PinIn // nil: only the methods below are used
	edges      chan struct{}
	pull       gpio.Pull
	edge       gpio.Edge
	halted     bool
}

func (p *fakePin) String() string { return "fake" }
func (p *fakePin) In(pull gpio.Pull, e gpio.Edge) error {
	p.pull, p.edge = pull, e
	return nil
}
func (p *fakePin) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		panic("WaitForEdge needs a positive timeout (periph/host#78)")
	}
	select {
	case <-p.edges:
		return true
	case <-time.After(timeout):
		return false
	}
}
func (p *fakePin) Halt() error { p.halted = true; return nil }

func TestPeriphSource(t *testing.T) {
	pin := &fakePin{edges: make(chan struct{}, 10)}
	src, err := NewPeriph(pin, &PeriphOpts{MarkEdge: Falling, Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if pin.pull != gpio.PullUp || pin.edge != gpio.FallingEdge {
		t.Errorf("configured %v %v", pin.pull, pin.edge)
	}
	if !src.MarkOnly() {
		t.Error("periph source must be mark-only")
	}
	pin.edges <- struct{}{}
	pin.edges <- struct{}{}
	buf := make([]sensors.Edge, 4)
	var prev sensors.Edge
	for i := range 2 {
		n, err := src.ReadEdges(context.Background(), buf)
		if err != nil || n != 1 {
			t.Fatalf("read %d: n=%d err=%v", i, n, err)
		}
		e := buf[0]
		if e.Precise || e.Rising || e.Seq != uint64(i+1) || e.Mono < prev.Mono {
			t.Errorf("edge %d: %+v", i, e)
		}
		prev = e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := src.ReadEdges(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read without edges: %v", err)
	}
	if err := src.Close(); err != nil || !pin.halted {
		t.Errorf("close: %v halted=%v", err, pin.halted)
	}
	if _, err := src.ReadEdges(context.Background(), buf); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
}

// loopSource replays one revolution's edges forever, shifted in time,
// until it has delivered limit edges.
type loopSource struct {
	rev    []sensors.Edge
	period time.Duration
	i      int
	limit  int
}

func (s *loopSource) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	if s.i >= s.limit {
		return 0, ErrClosed
	}
	n := min(len(buf), s.limit-s.i)
	for k := range n {
		r, j := s.i/len(s.rev), s.i%len(s.rev)
		e := s.rev[j]
		shift := time.Duration(r) * s.period
		e.Mono += shift
		e.Wall = e.Wall.Add(shift)
		e.Seq = uint64(s.i + 1)
		buf[k] = e
		s.i++
	}
	return n, nil
}

// BenchmarkEdges measures the whole tachometer (reader goroutine, batches,
// pulse filter, outlier test, averaging, channel sends) in edges per
// second. The edges are a 3000 RPM wheel with chatter on every edge, so
// most of them exercise the glitch path.
func BenchmarkEdges(b *testing.B) {
	w := wheel{rpm: 3000, widthDeg: 10, jitter: 5 * time.Microsecond, chatter: 2}
	rev := w.edges(time.Second, 1)
	const perRun = 200_000
	// Room for every speed of a run: the consumer is not what is measured.
	speeds := make(chan sensors.Speed, perRun/len(rev)+1)
	go func() {
		for range speeds {
		}
	}()
	defer close(speeds)
	var total int
	b.ReportAllocs()
	for b.Loop() {
		src := &loopSource{rev: rev, period: 20 * time.Millisecond, limit: perRun}
		o := DefaultOpts()
		o.IdleInterval = -1
		o.Clock = farClock{}
		tach, err := New(src, &o)
		if err != nil {
			b.Fatal(err)
		}
		if err := tach.Run(context.Background(), speeds, nil); err != nil {
			b.Fatal(err)
		}
		st := tach.Stats()
		if st.Edges != perRun || st.Dropped != 0 {
			b.Fatalf("stats %+v", st)
		}
		total += perRun
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "edges/s")
}

// farClock stands still at the test origin so no stall fires mid-benchmark.
type farClock struct{}

func (farClock) Now() time.Time                                   { return testOrigin }
func (farClock) Sleep(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
func (farClock) After(time.Duration) <-chan time.Time             { return nil }

// laggingSource delivers nothing and reports a horizon that stands still
// until released, like a simulator whose reader fell behind the clock.
type laggingSource struct {
	sliceSource
	horizon func() time.Time
}

func (l laggingSource) Horizon() time.Time { return l.horizon() }

// TestRunWaitsForHorizon: a stall is decided only once the source's horizon
// passes the deadline, and then with the right timestamp.
func TestRunWaitsForHorizon(t *testing.T) {
	clk := clock.NewScaled(testOrigin, 100)
	var mu sync.Mutex
	h := testOrigin
	src := laggingSource{horizon: func() time.Time { mu.Lock(); defer mu.Unlock(); return h }}
	o := DefaultOpts()
	o.Clock = clk
	o.IdleInterval = time.Second
	tach, err := New(src, &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speeds := make(chan sensors.Speed, 100)
	done := make(chan error, 1)
	go func() { done <- tach.Run(ctx, speeds, nil) }()
	// 3 s of clock time pass (30 ms wall) with the horizon at the start.
	_ = clk.Sleep(ctx, 3*time.Second)
	if n := len(speeds); n != 0 {
		t.Fatalf("%d idle zeros before the horizon moved", n)
	}
	mu.Lock()
	h = testOrigin.Add(1500 * time.Millisecond)
	mu.Unlock()
	select {
	case s := <-speeds:
		// One IdleInterval after Run started (a few ms of clock time in).
		if at := s.Time.Sub(testOrigin); s.RPM != 0 || at < time.Second || at > 1500*time.Millisecond {
			t.Errorf("idle zero %+v, want at 1 s after the start", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no idle zero after the horizon passed 1 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
