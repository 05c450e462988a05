package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// GPIOFaults are the GPIO line's fault switches: probabilities 0..1.
type GPIOFaults struct {
	MissedMarks float64 // a mark the sensor does not see (both edges missing), per mark
	Chatter     float64 // a burst of 2-4 pulses of a few us right after an edge, per edge
	Glitch      float64 // a 3-20 us noise pulse mid-revolution, per revolution
	Overflow    float64 // an edge lost from the kernel FIFO (a sequence gap), per edge
	Unplugged   bool    // no edges at all
}

// merge combines two switch sets: the larger rate of each.
func (f GPIOFaults) merge(o GPIOFaults) GPIOFaults {
	return GPIOFaults{
		MissedMarks: max(f.MissedMarks, o.MissedMarks),
		Chatter:     max(f.Chatter, o.Chatter),
		Glitch:      max(f.Glitch, o.Glitch),
		Overflow:    max(f.Overflow, o.Overflow),
		Unplugged:   f.Unplugged || o.Unplugged,
	}
}

// GPIOStats are the simulated line's counters.
type GPIOStats struct {
	Edges        uint64 // edges delivered
	MissedMarks  uint64 // marks suppressed by the missed_marks fault
	ChatterEdges uint64 // extra edges from chatter bursts
	GlitchPulses uint64 // noise pulses injected
	Overflowed   uint64 // edges dropped with a sequence gap (fault or nobody reading)
}

// queueMax bounds the edges waiting to be read, like the kernel's FIFO: when
// nobody reads, the oldest are dropped and the sequence numbers show it.
const queueMax = 1 << 14

// burst is the least engine time between two deliveries of edges: the line
// wakes its reader once per burst with every edge that fell due in it, each
// stamped with its own time, as a reader that drains the kernel's FIFO a few
// times a second would see them. At 2,200 RPM that is 11 edges per wake
// instead of one: the tachometer and the pipeline wake about seven times a
// second, not 73. 150 ms leaves 100 ms of the pipeline's window grace
// (250 ms) for scheduling, so no speed arrives after its window closed. On
// a scaled clock the burst shrinks with the speed-up (1.5 ms of engine time
// at 100x): there a millisecond of scheduling delay is 100 ms of engine
// time, and a longer burst made speeds miss their window.
//
// lookAhead is how far past the clock the line runs the model to find the
// next edge to sleep until: 250 ms of engine time, so a stopped engine wakes
// the reader four times a second, or 1 ms of wall time on a fast scaled
// clock (up to 1 s of engine time).
func burst(clk any) (burst, ahead time.Duration) {
	burst, ahead = 150*time.Millisecond, 250*time.Millisecond
	if sc, ok := clk.(interface{ Factor() float64 }); ok && sc.Factor() > 1 {
		burst = time.Duration(float64(burst) / sc.Factor())
		ahead = max(ahead, min(time.Second, time.Duration(sc.Factor()*float64(time.Millisecond))))
	}
	return burst, ahead
}

// GPIO is the simulated tachometer line: a tachometer.Source whose edges
// come from the flywheel angle, one mark per revolution, with timestamp
// jitter and the configured faults. Its edges are Precise, stamped on the
// simulator's clock (Mono is engine time since the start).
type GPIO struct {
	s      *Sim
	rng    *rand.Rand
	width  float64 // mark width in revolutions
	jitter float64 // ns
	burst  time.Duration
	ahead  time.Duration
	margin time.Duration // how far before the model's time a later step may still place an edge

	// guarded by s.mu
	queue   []sensors.Edge
	head    int
	seq     uint64
	lastT   time.Duration
	skipRev int64 // the mark of this revolution is missed
	forced  GPIOFaults
	last    time.Time // the clock time of the last delivery

	edges, missed, chatter, glitches, overflowed atomic.Uint64
	horizon                                      atomic.Int64 // engine time, ns
}

var _ tachometer.DeadlineSource = (*GPIO)(nil)

// Horizon implements tachometer.HorizonSource: every edge up to it was
// returned by an earlier, completed ReadEdges call. It may be ahead of the
// clock: the model has run ahead and found no edge before it.
func (g *GPIO) Horizon() time.Time {
	return g.s.origin.Add(time.Duration(g.horizon.Load()))
}

func newGPIO(s *Sim, seed uint64, widthDeg float64, jitter time.Duration) *GPIO {
	b, a := burst(s.clk)
	return &GPIO{
		s:       s,
		rng:     rand.New(rand.NewPCG(seed, 0x6910)),
		width:   widthDeg / 360,
		jitter:  float64(jitter),
		skipRev: math.MinInt64,
		burst:   b,
		ahead:   a,
		margin:  stepDur + 10*jitter,
	}
}

// Stats returns the counters.
func (g *GPIO) Stats() GPIOStats {
	return GPIOStats{
		Edges:        g.edges.Load(),
		MissedMarks:  g.missed.Load(),
		ChatterEdges: g.chatter.Load(),
		GlitchPulses: g.glitches.Load(),
		Overflowed:   g.overflowed.Load(),
	}
}

// String names the line.
func (g *GPIO) String() string { return "sim-gpio" }

// ReadEdges implements tachometer.Source: it sleeps on the simulator's
// clock, with one timer per wake, until an edge is due and a burst has
// passed since the last delivery, then returns the edges that are due.
func (g *GPIO) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	return g.ReadEdgesUntil(ctx, buf, time.Time{})
}

// ReadEdgesUntil implements tachometer.DeadlineSource: ReadEdges that
// returns 0, nil once the clock reaches deadline with no edge due.
func (g *GPIO) ReadEdgesUntil(ctx context.Context, buf []sensors.Edge, deadline time.Time) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	s := g.s
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		now := s.clk.Now()
		s.mu.Lock()
		s.eng.advance(now)
		n := 0
		for g.head < len(g.queue) && n < len(buf) && !g.queue[g.head].Wall.After(now) {
			buf[n] = g.queue[g.head]
			g.head++
			n++
		}
		if n > 0 {
			g.compact()
			g.last = now
			s.mu.Unlock()
			g.edges.Add(uint64(n))
			return n, nil
		}
		// Nothing due: every edge up to now went out in earlier calls.
		// Run the model ahead to find the next edge; wake for it, but not
		// before a burst has passed since the last delivery.
		s.eng.advance(now.Add(g.ahead))
		wake := now.Add(g.ahead)
		h := s.origin.Add(s.eng.now() - g.margin) // a later step places no edge before this
		if g.head < len(g.queue) {
			wake = g.queue[g.head].Wall
			h = minTime(h, wake.Add(-time.Nanosecond))
		}
		wake = maxTime(wake, g.last.Add(g.burst))
		h = maxTime(h, now)
		if d := int64(h.Sub(s.origin)); d > g.horizon.Load() {
			g.horizon.Store(d)
		}
		if !deadline.IsZero() {
			if !now.Before(deadline) {
				s.mu.Unlock()
				return 0, nil
			}
			wake = minTime(wake, deadline)
		}
		s.mu.Unlock()
		if err := s.clk.Sleep(ctx, wake.Sub(now)); err != nil {
			return 0, err
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// unplug drops the queued edges after t, which the model generated ahead of
// the clock before the line went dead at t (called under s.mu).
func (g *GPIO) unplug(t time.Time) {
	i := len(g.queue)
	for i > g.head && g.queue[i-1].Wall.After(t) {
		i--
	}
	g.queue = g.queue[:i]
	g.compact()
}

// compact drops consumed edges from the front of the queue.
func (g *GPIO) compact() {
	if g.head == len(g.queue) {
		g.queue, g.head = g.queue[:0], 0
	} else if g.head > len(g.queue)/2 && g.head > 256 {
		g.queue = append(g.queue[:0], g.queue[g.head:]...)
		g.head = 0
	}
}

// onStep turns one model step into edges (called under s.mu).
func (g *GPIO) onStep(prev, cur *State, t0 time.Duration) {
	if cur.Revs <= prev.Revs {
		return
	}
	f := g.s.gpioFaults(t0)
	if f.Unplugged {
		return
	}
	span := cur.Revs - prev.Revs
	at := func(pos float64) time.Duration {
		return t0 + time.Duration((pos-prev.Revs)/span*float64(stepDur))
	}
	for n := math.Floor(prev.Revs - g.width); n <= cur.Revs; n++ {
		rev := int64(n)
		if lead := n; lead > prev.Revs && lead <= cur.Revs {
			if f.MissedMarks > 0 && g.rng.Float64() < f.MissedMarks {
				g.skipRev = rev
				g.missed.Add(1)
			}
			if g.skipRev != rev {
				g.emit(at(lead), true, f)
			}
		}
		if trail := n + g.width; trail > prev.Revs && trail <= cur.Revs && g.skipRev != rev {
			g.emit(at(trail), false, f)
		}
		if mid := n + 0.5; f.Glitch > 0 && mid > prev.Revs && mid <= cur.Revs && g.rng.Float64() < f.Glitch {
			t := at(mid)
			w := time.Duration(3+g.rng.IntN(18)) * time.Microsecond
			g.glitches.Add(1)
			g.emit(t, true, GPIOFaults{})
			g.emit(t+w, false, GPIOFaults{})
		}
	}
}

// emit queues one edge (with jitter) and, by the faults, its chatter or
// its loss.
func (g *GPIO) emit(t time.Duration, rising bool, f GPIOFaults) {
	if g.jitter > 0 {
		t += time.Duration(g.rng.NormFloat64() * g.jitter)
	}
	t = max(t, g.lastT+time.Nanosecond)
	g.push(t, rising, f.Overflow)
	if f.Chatter > 0 && g.rng.Float64() < f.Chatter {
		// The comparator flips back and forth a few times as the mark's
		// edge crosses its threshold, then settles where it was going.
		k := 2 + g.rng.IntN(3)
		for range k {
			t += time.Duration(2+g.rng.IntN(6)) * time.Microsecond
			g.push(t, !rising, f.Overflow)
			t += time.Duration(2+g.rng.IntN(6)) * time.Microsecond
			g.push(t, rising, f.Overflow)
			g.chatter.Add(2)
		}
	}
}

// push appends an edge, or skips its sequence number when the overflow
// fault (or a full queue) loses it.
func (g *GPIO) push(t time.Duration, rising bool, overflow float64) {
	g.seq++
	g.lastT = t
	if overflow > 0 && g.rng.Float64() < overflow {
		g.overflowed.Add(1)
		return
	}
	if len(g.queue)-g.head >= queueMax {
		g.head++ // the oldest is lost, as in the kernel
		g.overflowed.Add(1)
		g.compact()
	}
	g.queue = append(g.queue, sensors.Edge{
		Mono:    t,
		Wall:    g.s.origin.Add(t),
		Rising:  rising,
		Seq:     g.seq,
		Precise: true,
	})
}
