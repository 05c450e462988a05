package sim

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// Sim is the simulated sensor bus: the engine, the tachometer's GPIO line
// and the camera, on one clock. It is safe for concurrent use.
type Sim struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger // scoped component=sim
	base   *slog.Logger // as given, for the camera (which scopes itself)
	origin time.Time
	seed   int64

	mu     sync.Mutex // the engine and the GPIO line
	eng    *engine
	gpio   *GPIO
	forced map[string]bool // engine and GPIO kinds switched on at run time
	cam    *camera.Chip
	camOn  map[string]bool // camera kinds the config's windows switched on
}

// Opts are the simulator's runtime dependencies; what it simulates is its
// Config.
type Opts struct {
	// Clock drives the engine, the GPIO line and the camera; nil is the
	// wall clock. An accelerated clock.Scaled runs the engine faster.
	Clock clock.Clock
	// Logger receives fault changes, scoped component=sim (the camera
	// scopes its own); nil discards them.
	Logger *slog.Logger
}

// DefaultOpts returns the defaults: the wall clock and no logging.
func DefaultOpts() Opts {
	return Opts{Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)}
}

// New builds the simulator on opts.Clock, starting at its Now. cfg is
// validated; zero fields take their defaults. A nil opts means
// DefaultOpts.
func New(cfg Config, opts *Opts) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := DefaultOpts()
	var o Opts
	if opts != nil {
		o = *opts
	}
	clk, log := o.Clock, o.Logger
	if clk == nil {
		clk = d.Clock
	}
	if log == nil {
		log = d.Logger
	}
	base := log
	log = log.With("component", "sim")
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	s := &Sim{
		cfg:    cfg,
		clk:    clk,
		log:    log,
		base:   base,
		origin: clk.Now(),
		seed:   seed,
		forced: map[string]bool{},
		camOn:  map[string]bool{},
	}
	s.eng = newEngine(s.origin, newScenario(cfg.Scenario, cfg.SteadyRPM), cfg.AmbientC, uint64(seed))
	s.eng.flameOutForced = func(t time.Duration) bool { return s.active(FaultFlameOut, t) > 0 }
	s.gpio = newGPIO(s, uint64(seed)+1, cfg.MarkWidthDeg, cfg.Jitter)
	s.eng.onStep = s.onStep
	if err := s.newCamera(); err != nil {
		return nil, err
	}
	log.Info("simulator ready", "scenario", cfg.Scenario, "seed", seed, "speedup", cfg.Speedup, "faults", len(cfg.Faults))
	return s, nil
}

// Seed is the seed in use (the configured one, or the one picked for 0).
func (s *Sim) Seed() int64 { return s.seed }

// Config is the effective configuration, defaults filled in.
func (s *Sim) Config() Config { return s.cfg }

// Origin is the clock time at which engine time 0 was.
func (s *Sim) Origin() time.Time { return s.origin }

// GPIO is the tachometer line.
func (s *Sim) GPIO() *GPIO { return s.gpio }

// State returns the engine at clock time t, running the model up to t.
func (s *Sim) State(t time.Time) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.state(t)
}

// idleStep is how often Run advances the model when nothing else does (no
// tachometer reads the line): often enough that the flame and flywheel
// changes are logged within a second of engine time.
const idleStep = time.Second

// Run keeps the model in step with the clock (so scenario changes and
// stalls are logged when they happen even if nothing reads) and applies
// the config's camera fault windows at their boundaries. It wakes once per
// idleStep and at each window boundary, not more. It returns nil when ctx
// is done.
func (s *Sim) Run(ctx context.Context) error {
	for {
		now := s.clk.Now()
		s.State(now)
		t := now.Sub(s.origin)
		if err := s.applyCameraWindows(t); err != nil {
			return err
		}
		next := min(idleStep, s.nextCameraBoundary(t)-t)
		if err := s.clk.Sleep(ctx, next); err != nil {
			return nil
		}
	}
}

// onStep is the model's step hook (called under s.mu): the GPIO line's
// edges, and a log line when the flame or the flywheel changes, stamped
// with the engine time of the step.
func (s *Sim) onStep(prev, cur *State, t0 time.Duration) {
	s.gpio.onStep(prev, cur, t0)
	if cur.FlameOn != prev.FlameOn {
		s.log.Info("flame", "on", cur.FlameOn, "engine_time", cur.Time.Sub(s.origin).Round(time.Millisecond), "hot_c", round1(cur.Hot))
	}
	if cur.Running != prev.Running {
		s.log.Info("flywheel", "running", cur.Running, "engine_time", cur.Time.Sub(s.origin).Round(time.Millisecond), "delta_c", round1(cur.Hot-cur.Cold))
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// SetFault switches a fault kind on or off at run time, on top of the
// config's windows. GPIO kinds use their default rate; SetGPIOFaults sets
// rates.
func (s *Sim) SetFault(kind string, on bool) error {
	if slices.Contains(camera.Kinds(), kind) {
		var err error
		if uerr := s.cam.UpdateFaults(func(f *camera.Faults) { err = f.Set(kind, on) }); uerr != nil {
			return fmt.Errorf("sim: %w", uerr)
		}
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		s.log.Info("fault", "kind", kind, "on", on)
		return nil
	}
	if !slices.Contains(FaultKinds(), kind) {
		return fmt.Errorf("%w: fault %q (want one of %v)", ErrConfig, kind, FaultKinds())
	}
	s.mu.Lock()
	s.forced[kind] = on
	if kind == FaultUnplugged && on {
		s.gpio.unplug(s.clk.Now())
	}
	s.mu.Unlock()
	s.log.Info("fault", "kind", kind, "on", on)
	return nil
}

// SetGPIOFaults sets the GPIO line's run-time switches with explicit rates
// (tests); config windows still add to them.
func (s *Sim) SetGPIOFaults(f GPIOFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gpio.forced = f
	if f.Unplugged {
		s.gpio.unplug(s.clk.Now())
	}
}

// active returns the rate at which kind is active at engine time t: the
// default rate when switched on at run time, the window's rate (or the
// default) when a config window covers t, 0 when off. Called under s.mu.
func (s *Sim) active(kind string, t time.Duration) float64 {
	rate := 0.0
	if s.forced[kind] {
		rate = defaultRate(kind)
	}
	for i := range s.cfg.Faults {
		f := &s.cfg.Faults[i]
		if f.Kind != kind || !f.active(t) {
			continue
		}
		r := f.Rate
		if r == 0 {
			r = defaultRate(kind)
		}
		rate = max(rate, r)
	}
	return rate
}

func defaultRate(kind string) float64 {
	switch kind {
	case FaultMissedMarks:
		return DefaultMissedMarks
	case FaultChatter:
		return DefaultChatter
	case FaultGlitch:
		return DefaultGlitch
	case FaultOverflow:
		return DefaultOverflow
	}
	return 1
}

// gpioFaults are the GPIO switches in force at engine time t (under s.mu).
func (s *Sim) gpioFaults(t time.Duration) GPIOFaults {
	return s.gpio.forced.merge(GPIOFaults{
		MissedMarks: s.active(FaultMissedMarks, t),
		Chatter:     s.active(FaultChatter, t),
		Glitch:      s.active(FaultGlitch, t),
		Overflow:    s.active(FaultOverflow, t),
		Unplugged:   s.active(FaultUnplugged, t) > 0,
	})
}

// Stats are the simulator's counters and the engine's current state.
type Stats struct {
	EngineTime time.Duration // engine time reached by the model
	State      State         // at EngineTime
	GPIO       GPIOStats
	Camera     camera.Stats
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	st := Stats{EngineTime: s.eng.now(), State: s.eng.s}
	s.mu.Unlock()
	st.GPIO = s.gpio.Stats()
	st.Camera = s.cam.Stats()
	return st
}
