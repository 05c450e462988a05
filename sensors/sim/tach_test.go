package sim

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// speedup for the tachometer tests: fast, but slow enough that a busy CI
// machine's scheduling delays stay far below the stall timeout in engine
// time (2 s of engine is 40 ms of wall time).
const speedup = 50

// tee records the edges a source delivers.
type tee struct {
	src   tachometer.Source
	mu    sync.Mutex
	edges []sensors.Edge
}

func (t *tee) ReadEdges(ctx context.Context, buf []sensors.Edge) (int, error) {
	n, err := t.src.ReadEdges(ctx, buf)
	t.mu.Lock()
	t.edges = append(t.edges, buf[:n]...)
	t.mu.Unlock()
	return n, err
}

// ReadEdgesUntil and Horizon pass the line's tachometer.DeadlineSource
// through, so the tachometer reads it the way the agent does.
func (t *tee) ReadEdgesUntil(ctx context.Context, buf []sensors.Edge, deadline time.Time) (int, error) {
	n, err := t.src.(tachometer.DeadlineSource).ReadEdgesUntil(ctx, buf, deadline)
	t.mu.Lock()
	t.edges = append(t.edges, buf[:n]...)
	t.mu.Unlock()
	return n, err
}

func (t *tee) Horizon() time.Time { return t.src.(tachometer.HorizonSource).Horizon() }

// lastLead is the last mark's leading edge delivered before t.
func (t *tee) lastLead(before time.Time) sensors.Edge {
	t.mu.Lock()
	defer t.mu.Unlock()
	var e sensors.Edge
	for _, x := range t.edges {
		if x.Rising && x.Wall.Before(before) {
			e = x
		}
	}
	return e
}

type tachRun struct {
	sim    *Sim
	tach   *tachometer.Tach
	src    *tee
	speeds []sensors.Speed
	events []tachometer.Event
}

// runTach runs the simulator and a tachometer on a scaled clock for dur of
// engine time. act, if set, runs at engine time actAt.
func runTach(t *testing.T, cfg Config, dur time.Duration, act func(*Sim), actAt time.Duration) *tachRun {
	t.Helper()
	clk := clock.NewScaled(origin, speedup)
	s := newSim(t, cfg, clk)
	src := &tee{src: s.GPIO()}
	o := tachometer.DefaultOpts()
	o.Clock = clk
	o.IdleInterval = -1
	tach, err := tachometer.New(src, &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speeds := make(chan sensors.Speed, 1<<16)
	events := make(chan tachometer.Event, 64)
	done := make(chan error, 1)
	go func() { done <- tach.Run(ctx, speeds, events) }()
	if act != nil {
		if err := clk.Sleep(ctx, actAt-clk.Now().Sub(origin)); err != nil {
			t.Fatal(err)
		}
		act(s)
	}
	if err := clk.Sleep(ctx, dur-clk.Now().Sub(origin)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tachometer: %v", err)
	}
	close(speeds)
	close(events)
	r := &tachRun{sim: s, tach: tach, src: src}
	for sp := range speeds {
		r.speeds = append(r.speeds, sp)
	}
	for e := range events {
		r.events = append(r.events, e)
	}
	if st := tach.Stats(); st.Dropped != 0 {
		t.Errorf("dropped %d", st.Dropped)
	}
	return r
}

// worst is the largest relative error of the non-zero speeds in [from, to).
func (r *tachRun) worst(rpm float64, from, to time.Duration) (float64, int) {
	w, n := 0.0, 0
	for _, s := range r.speeds {
		at := s.Time.Sub(origin)
		if s.RPM == 0 || at < from || at >= to {
			continue
		}
		w = max(w, math.Abs(s.RPM-rpm)/rpm)
		n++
	}
	return w, n
}

func (r *tachRun) kinds() string {
	k := ""
	for _, e := range r.events {
		k += string(e.Kind) + " "
	}
	return k
}

// TestTachometerAccuracy: 0.1% at 50-3000 RPM through the simulated line
// with 2 us (the default) and 10 us timestamp jitter.
func TestTachometerAccuracy(t *testing.T) {
	for _, rpm := range []float64{50, 300, 1000, 3000} {
		for _, jitter := range []time.Duration{2 * time.Microsecond, 10 * time.Microsecond} {
			t.Run(fmt.Sprintf("%.0frpm/%v", rpm, jitter), func(t *testing.T) {
				dur := max(8*time.Second, time.Duration(20*60/rpm*float64(time.Second)))
				r := runTach(t, Config{Scenario: ScenarioSteady, SteadyRPM: rpm, Seed: 7, Jitter: jitter}, dur, nil, 0)
				worst, n := r.worst(rpm, 0, dur)
				if n < 10 {
					t.Fatalf("%d speeds", n)
				}
				if worst > 0.001 {
					t.Errorf("worst error %.4f%% over %d speeds, want <= 0.1%%", worst*100, n)
				}
				st := r.tach.Stats()
				if st.Glitches+st.Outliers+st.Overflows != 0 || !st.Precise {
					t.Errorf("clean line, stats %+v", st)
				}
				t.Logf("%.0f rpm, jitter %v: %d speeds, worst error %.4f%%", rpm, jitter, n, worst*100)
			})
		}
	}
}

func TestTachometerFaults(t *testing.T) {
	const rpm = 600
	window := func(kind string, rate float64) []Fault {
		return []Fault{{Kind: kind, At: 3 * time.Second, For: 4 * time.Second, Rate: rate}}
	}
	tests := []struct {
		name   string
		faults []Fault
		check  func(t *testing.T, r *tachRun)
	}{
		{"missed marks", window(FaultMissedMarks, 0.15), func(t *testing.T, r *tachRun) {
			g := r.sim.Stats().GPIO
			if g.MissedMarks == 0 || r.tach.Stats().Outliers == 0 {
				t.Errorf("missed %d marks, tachometer outliers %d", g.MissedMarks, r.tach.Stats().Outliers)
			}
		}},
		{"chatter", window(FaultChatter, 1), func(t *testing.T, r *tachRun) {
			if g := r.sim.Stats().GPIO; g.ChatterEdges == 0 || r.tach.Stats().Glitches < g.ChatterEdges/2 {
				t.Errorf("chatter edges %d, tachometer glitches %d", g.ChatterEdges, r.tach.Stats().Glitches)
			}
		}},
		{"noise spikes", window(FaultGlitch, 0.5), func(t *testing.T, r *tachRun) {
			if g := r.sim.Stats().GPIO; g.GlitchPulses == 0 || r.tach.Stats().Glitches != g.GlitchPulses {
				t.Errorf("spikes %d, tachometer glitches %d", g.GlitchPulses, r.tach.Stats().Glitches)
			}
		}},
		{"overflow", window(FaultOverflow, 0.05), func(t *testing.T, r *tachRun) {
			g, st := r.sim.Stats().GPIO, r.tach.Stats()
			if g.Overflowed == 0 || st.Lost != g.Overflowed {
				t.Errorf("dropped %d edges, tachometer lost %d (overflows %d)", g.Overflowed, st.Lost, st.Overflows)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runTach(t, Config{Scenario: ScenarioSteady, SteadyRPM: rpm, Seed: 11, Faults: tt.faults}, 10*time.Second, nil, 0)
			tt.check(t, r)
			// The speed stays right during the fault and after it.
			during, nd := r.worst(rpm, 3*time.Second, 7*time.Second)
			after, na := r.worst(rpm, 7*time.Second, 10*time.Second)
			if nd < 10 || na < 20 || during > 0.001 || after > 0.001 {
				t.Errorf("during: %d speeds worst %.4f%%; after: %d speeds worst %.4f%%", nd, during*100, na, after*100)
			}
			if k := r.kinds(); k != "start " {
				t.Errorf("events %q, want just the start", k)
			}
			t.Logf("stats %+v", r.tach.Stats())
		})
	}
}

// TestTachometerUnplugged: the line goes dead at 3 s (switched at run
// time): speed 0 and a stop event exactly StallTimeout after the last mark;
// plugged back, a start event and the right speed again.
func TestTachometerUnplugged(t *testing.T) {
	const rpm = 600
	var off time.Time
	r := runTach(t, Config{Scenario: ScenarioSteady, SteadyRPM: rpm, Seed: 5}, 12*time.Second, func(s *Sim) {
		if err := s.SetFault(FaultUnplugged, true); err != nil {
			t.Error(err)
		}
		off = s.clk.Now()
		go func() {
			_ = s.clk.Sleep(context.Background(), 4*time.Second)
			_ = s.SetFault(FaultUnplugged, false)
		}()
	}, 3*time.Second)
	if k := r.kinds(); k != "start stop start " {
		t.Fatalf("events %q, want start stop start", k)
	}
	last := r.src.lastLead(r.events[1].Time)
	if want := last.Wall.Add(2 * time.Second); !r.events[1].Time.Equal(want) {
		t.Errorf("stop at %v, want last mark %v + 2s", r.events[1].Time.Sub(origin), last.Wall.Sub(origin))
	}
	// The line runs the model up to 250 ms ahead of the clock; unplugging
	// drops the edges it generated after the switch.
	// A reader running behind the clock (a loaded CI machine) may not have
	// generated the last few edges before the switch: allow a second.
	if last.Wall.After(off.Add(100*time.Millisecond)) || off.Sub(last.Wall) > time.Second {
		t.Errorf("last mark %v, unplugged at %v", last.Wall.Sub(origin), off.Sub(origin))
	}
	var zero bool
	for _, s := range r.speeds {
		if s.RPM == 0 {
			zero = s.Time.Equal(r.events[1].Time)
		}
	}
	if !zero {
		t.Error("no zero speed at the stop")
	}
	if w, n := r.worst(rpm, 0, 12*time.Second); n < 50 || w > 0.001 {
		t.Errorf("%d speeds, worst %.4f%%", n, w*100)
	}
}

// TestTachometerEngineStall: the stall scenario slows the flywheel down
// until it stops; the tachometer follows it down, reports 0 after
// max(3 periods, 2 s) and a stop event.
func TestTachometerEngineStall(t *testing.T) {
	cfg := Config{Scenario: ScenarioStall, SteadyRPM: 300, Seed: 9}
	// Find when the model stalls, without a clock.
	probe := newSim(t, cfg, fixedClock{})
	var stalled time.Duration
	for d := 30 * time.Second; d < 5*time.Minute; d += 10 * time.Millisecond {
		if !probe.State(origin.Add(d)).Running {
			stalled = d
			break
		}
	}
	if stalled == 0 {
		t.Fatal("the model never stalled")
	}
	r := runTach(t, cfg, stalled+15*time.Second, nil, 0)
	if k := r.kinds(); k != "start stop " {
		t.Fatalf("events %q, want start stop", k)
	}
	stop := r.events[1]
	last := r.src.lastLead(stop.Time)
	gap := stop.Time.Sub(last.Wall)
	if gap < 2*time.Second || last.Wall.Sub(origin) > stalled {
		t.Errorf("stop %v after the last mark at %v (model stalled at %v)", gap, last.Wall.Sub(origin), stalled)
	}
	// The speeds fall, following the model within 1% (it decelerates
	// within each averaged span).
	var prev float64 = 1e9
	for _, s := range r.speeds {
		at := s.Time.Sub(origin)
		if s.RPM == 0 || at < 31*time.Second {
			continue
		}
		if s.RPM > prev*1.001 {
			t.Errorf("speed rose to %.2f at %v while slowing down", s.RPM, at)
		}
		prev = s.RPM
	}
	t.Logf("model stalled at %v; last mark %v; stop %v later at %.1f rpm", stalled, last.Wall.Sub(origin), gap, stop.RPM)
}
