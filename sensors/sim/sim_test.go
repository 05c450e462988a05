package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
)

var origin = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// fixedClock stands still: tests drive the model through State directly.
type fixedClock struct{}

func (fixedClock) Now() time.Time                                   { return origin }
func (fixedClock) Sleep(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
func (fixedClock) After(time.Duration) <-chan time.Time             { return nil }

func newSim(t *testing.T, cfg Config, clk clock.Clock) *Sim {
	t.Helper()
	s, err := New(cfg, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scenario = ScenarioDemo
	cfg.Seed = 42
	cfg.Faults = []Fault{{Kind: FaultChatter, At: time.Minute}}
	run := func() ([]State, []sensors.Edge) {
		s := newSim(t, cfg, fixedClock{})
		var states []State
		for i := 1; i <= 20; i++ {
			states = append(states, s.State(origin.Add(time.Duration(i)*6*time.Second)))
		}
		g := s.GPIO()
		s.mu.Lock()
		edges := append([]sensors.Edge(nil), g.queue[g.head:]...)
		s.mu.Unlock()
		return states, edges
	}
	s1, e1 := run()
	s2, e2 := run()
	for i := range s1 {
		if s1[i] != s2[i] {
			t.Fatalf("state %d differs:\n%+v\n%+v", i, s1[i], s2[i])
		}
	}
	if len(e1) == 0 || len(e1) != len(e2) {
		t.Fatalf("edges %d vs %d", len(e1), len(e2))
	}
	for i := range e1 {
		if e1[i] != e2[i] {
			t.Fatalf("edge %d differs: %+v %+v", i, e1[i], e2[i])
		}
	}
	other := newSim(t, Config{Scenario: ScenarioDemo, Seed: 43}, fixedClock{})
	if got := other.State(origin.Add(2 * time.Minute)); got == s1[19] {
		t.Error("a different seed gave the same state")
	}
}

func TestThermalLag(t *testing.T) {
	s := newSim(t, Config{Scenario: ScenarioRun, Seed: 1}, fixedClock{})
	at := func(d time.Duration) State { return s.State(origin.Add(d)) }
	s0 := at(0)
	if s0.FlameOn || s0.Hot != s0.Ambient || s0.RPM != 0 {
		t.Fatalf("start %+v, want a cold engine", s0)
	}
	lit := at(3 * time.Second) // flame lit at 2 s
	if !lit.FlameOn || lit.Flame < 300 {
		t.Errorf("1 s after lighting the flame is %.0f C, want > 300", lit.Flame)
	}
	if lit.Hot-lit.Ambient > 5 {
		t.Errorf("hot cylinder %.1f C 1 s after lighting: no thermal lag", lit.Hot)
	}
	var prevHot, prevCold float64 = lit.Hot, lit.Cold
	for _, d := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute} {
		st := at(d)
		if st.Hot <= prevHot || st.Cold < prevCold {
			t.Errorf("at %v hot %.1f cold %.1f did not keep rising", d, st.Hot, st.Cold)
		}
		if st.Hot > 230 || st.Cold > st.Hot {
			t.Errorf("at %v hot %.1f cold %.1f out of range", d, st.Hot, st.Cold)
		}
		prevHot, prevCold = st.Hot, st.Cold
	}
	// Half-way to the final temperature takes tens of seconds, not one.
	final := at(20 * time.Minute).Hot
	half := 0.0
	s2 := newSim(t, Config{Scenario: ScenarioRun, Seed: 1}, fixedClock{})
	for d := 2 * time.Second; d < 20*time.Minute; d += time.Second {
		if s2.State(origin.Add(d)).Hot >= (final+s0.Ambient)/2 {
			half = (d - 2*time.Second).Seconds()
			break
		}
	}
	if half < 20 || half > 300 {
		t.Errorf("hot cylinder half-rise time %.0f s, want a lag of tens of seconds", half)
	}
	t.Logf("final hot %.1f C, half-rise %.0f s, rpm %.0f", final, half, at(20*time.Minute).RPM)
}

func TestStartThresholdAndStall(t *testing.T) {
	s := newSim(t, Config{Scenario: ScenarioRun, Seed: 1}, fixedClock{})
	var startDelta float64
	var started time.Duration
	for d := time.Duration(0); d < 10*time.Minute; d += 100 * time.Millisecond {
		st := s.State(origin.Add(d))
		if st.Running {
			startDelta, started = st.Hot-st.Cold, d
			break
		}
		if st.RPM != 0 {
			t.Fatalf("turning at %v before starting: %+v", d, st)
		}
	}
	if started == 0 || startDelta < startDelt || startDelta > startDelt+2 {
		t.Fatalf("started at %v with delta %.1f K, want just above %g K", started, startDelta, float64(startDelt))
	}
	// The stall scenario turns the flame down at 30 s: the engine slows and
	// stops when the difference no longer covers friction.
	s = newSim(t, Config{Scenario: ScenarioStall, Seed: 1, SteadyRPM: 300}, fixedClock{})
	if st := s.State(origin.Add(29 * time.Second)); math.Abs(st.RPM-300) > 0.01 {
		t.Fatalf("steady before the stall: %+v", st)
	}
	var stalled time.Duration
	for d := 30 * time.Second; d < 30*time.Minute; d += 100 * time.Millisecond {
		st := s.State(origin.Add(d))
		if !st.Running {
			stalled = d
			// Below this difference the steady speed is under stallRPM.
			if st.RPM != 0 || st.Hot-st.Cold > runDelta+dragK*stallRPM/torqueK {
				t.Errorf("stalled with rpm %.1f delta %.1f", st.RPM, st.Hot-st.Cold)
			}
			break
		}
	}
	if stalled == 0 {
		t.Fatal("never stalled")
	}
	// Stopped, it stays stopped below the start threshold.
	if st := s.State(origin.Add(stalled + 5*time.Minute)); st.Running || st.RPM != 0 {
		t.Errorf("restarted without heat: %+v", st)
	}
	t.Logf("started at %v (delta %.1f K); stall scenario stalled at %v", started, startDelta, stalled)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"default", func(*Config) {}, ""},
		{"zero", func(c *Config) { *c = Config{} }, ""},
		{"scenario", func(c *Config) { c.Scenario = "warp" }, "sensors.sim.scenario"},
		{"speedup", func(c *Config) { c.Speedup = 0.5 }, "sensors.sim.speedup"},
		{"steady_rpm", func(c *Config) { c.SteadyRPM = 5000 }, "sensors.sim.steady_rpm"},
		{"ambient", func(c *Config) { c.AmbientC = 90 }, "sensors.sim.ambient_c"},
		{"jitter", func(c *Config) { c.Jitter = time.Second }, "sensors.sim.jitter"},
		{"mark", func(c *Config) { c.MarkWidthDeg = 400 }, "sensors.sim.mark_width_deg"},
		{"fault kind", func(c *Config) { c.Faults = []Fault{{Kind: "gremlins"}} }, "sensors.sim.faults[0].kind"},
		{"fault at", func(c *Config) { c.Faults = []Fault{{Kind: FaultChatter}, {Kind: FaultChatter, At: -1}} }, "sensors.sim.faults[1].at"},
		{"fault rate", func(c *Config) { c.Faults = []Fault{{Kind: FaultChatter, Rate: 2}} }, "sensors.sim.faults[0].rate"},
		{"camera kind", func(c *Config) { c.Faults = []Fault{{Kind: "i2c_nack", At: time.Second}} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.key == "" && err != nil:
				t.Fatal(err)
			case tt.key != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.key+":")):
				t.Fatalf("error %v, want ErrConfig naming %s", err, tt.key)
			}
			if tt.key != "" {
				if _, err := New(c, &Opts{Clock: fixedClock{}}); err == nil {
					t.Error("New accepted a bad config")
				}
			}
		})
	}
}

func TestScenariosRun(t *testing.T) {
	for _, name := range Scenarios() {
		t.Run(name, func(t *testing.T) {
			s := newSim(t, Config{Scenario: name, Seed: 3}, fixedClock{})
			var maxRPM, maxHot float64
			for d := time.Duration(0); d <= 20*time.Minute; d += time.Second {
				st := s.State(origin.Add(d))
				maxRPM, maxHot = max(maxRPM, st.RPM), max(maxHot, st.Hot)
				if st.RPM < 0 || st.RPM > 3000 || st.Hot < st.Ambient-0.01 || st.Hot > 230 || math.IsNaN(st.Hot) {
					t.Fatalf("at %v: %+v", d, st)
				}
			}
			t.Logf("max rpm %.0f, max hot %.0f C", maxRPM, maxHot)
		})
	}
}
