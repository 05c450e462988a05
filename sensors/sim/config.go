package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// ErrConfig is wrapped by every Config validation error.
var ErrConfig = errors.New("sim: invalid config")

// Config configures the simulator: the sensors.sim section of the agent
// config. The zero value of a field means its default (DefaultConfig).
type Config struct {
	// Scenario names the engine's timeline; see Scenarios.
	Scenario string `yaml:"scenario"`
	// Seed makes the run reproducible; 0 picks one from the clock (Sim.Seed
	// tells which).
	Seed int64 `yaml:"seed"`
	// Speedup runs engine time this many times faster than the wall clock
	// (1 to 10000). The caller builds the clock from it
	// (clock.NewScaled); Sim only reports it.
	Speedup float64 `yaml:"speedup"`
	// SteadyRPM is the speed of the "steady", "flame_out" and "stall"
	// scenarios (default 600, 50 to 3000).
	SteadyRPM float64 `yaml:"steady_rpm"`
	// AmbientC is the room temperature, deg C (default 22, -20 to 45).
	AmbientC float64 `yaml:"ambient_c"`
	// Jitter is the standard deviation of the edge timestamps (default
	// 2us, the Pi's interrupt latency spread; 0 to 1ms). "none" is 0.
	Jitter time.Duration `yaml:"jitter"`
	// MarkWidthDeg is the black mark's width on the flywheel (default 12
	// degrees, 1 to 180).
	MarkWidthDeg float64 `yaml:"mark_width_deg"`
	// Faults are injected during windows of engine time.
	Faults []Fault `yaml:"faults"`
}

// Fault is one injected fault.
type Fault struct {
	// Kind is a GPIO kind (FaultMissedMarks, FaultChatter, FaultGlitch,
	// FaultOverflow, FaultUnplugged), the engine's FaultFlameOut, or one of
	// camera.Kinds().
	Kind string `yaml:"kind"`
	// At is the engine time (since the start) when it begins.
	At time.Duration `yaml:"at"`
	// For is how long it lasts; 0 means to the end.
	For time.Duration `yaml:"for"`
	// Rate is the probability per mark/edge/revolution for the GPIO kinds
	// that have one (0 means the kind's default; see GPIOFaults).
	Rate float64 `yaml:"rate"`
}

// active reports whether f covers engine time t.
func (f *Fault) active(t time.Duration) bool {
	return t >= f.At && (f.For == 0 || t < f.At+f.For)
}

// boundaries are the engine times at which f starts and ends (only the
// start when it lasts to the end).
func (f *Fault) boundaries() []time.Duration {
	if f.For == 0 {
		return []time.Duration{f.At}
	}
	return []time.Duration{f.At, f.At + f.For}
}

// Fault kinds of the GPIO line and the engine.
const (
	FaultMissedMarks = "missed_marks"   // marks the sensor does not see (rate per mark)
	FaultChatter     = "chatter"        // bursts of short pulses at an edge (rate per edge)
	FaultGlitch      = "edge_glitch"    // a short noise spike mid-revolution (rate per revolution)
	FaultOverflow    = "gpio_overflow"  // edges lost from the kernel FIFO: sequence gaps (rate per edge)
	FaultUnplugged   = "gpio_unplugged" // no edges at all
	FaultFlameOut    = "flame_out"      // the burner goes out (the engine cools and stalls)
)

// Default rates of the GPIO kinds.
const (
	DefaultMissedMarks = 0.1
	DefaultChatter     = 0.5
	DefaultGlitch      = 0.2
	DefaultOverflow    = 0.02
)

// FaultKinds lists every kind Sim understands, the camera's included.
func FaultKinds() []string {
	return append([]string{FaultMissedMarks, FaultChatter, FaultGlitch, FaultOverflow, FaultUnplugged, FaultFlameOut}, camera.Kinds()...)
}

// DefaultConfig is the "run" scenario in real time.
func DefaultConfig() Config {
	return Config{
		Scenario:     ScenarioRun,
		Seed:         1,
		Speedup:      1,
		SteadyRPM:    600,
		AmbientC:     22,
		Jitter:       2 * time.Microsecond,
		MarkWidthDeg: 12,
	}
}

// withDefaults fills zero fields (Seed stays as given: 0 means random).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Scenario == "" {
		c.Scenario = d.Scenario
	}
	if c.Speedup == 0 {
		c.Speedup = d.Speedup
	}
	if c.SteadyRPM == 0 {
		c.SteadyRPM = d.SteadyRPM
	}
	if c.AmbientC == 0 {
		c.AmbientC = d.AmbientC
	}
	if c.Jitter == 0 {
		c.Jitter = d.Jitter
	}
	if c.MarkWidthDeg == 0 {
		c.MarkWidthDeg = d.MarkWidthDeg
	}
	return c
}

// Validate names the first bad key (as in the agent config, under
// sensors.sim) and the allowed values. Zero fields are defaults and valid.
func (c Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%w: sensors.sim.%s: %s", ErrConfig, key, fmt.Sprintf(format, a...))
	}
	if c.Scenario != "" && !slices.Contains(Scenarios(), c.Scenario) && c.Scenario != "flameout" {
		return bad("scenario", "%q is not a scenario; want one of %s", c.Scenario, strings.Join(Scenarios(), ", "))
	}
	if c.Speedup != 0 && !(c.Speedup >= 1 && c.Speedup <= 10000) {
		return bad("speedup", "%g is outside 1..10000", c.Speedup)
	}
	if c.SteadyRPM != 0 && !(c.SteadyRPM >= 50 && c.SteadyRPM <= 3000) {
		return bad("steady_rpm", "%g is outside 50..3000", c.SteadyRPM)
	}
	if c.AmbientC != 0 && !(c.AmbientC >= -20 && c.AmbientC <= 45) {
		return bad("ambient_c", "%g is outside -20..45", c.AmbientC)
	}
	if c.Jitter < 0 || c.Jitter > time.Millisecond {
		return bad("jitter", "%v is outside 0..1ms", c.Jitter)
	}
	if c.MarkWidthDeg != 0 && !(c.MarkWidthDeg >= 1 && c.MarkWidthDeg <= 180) {
		return bad("mark_width_deg", "%g is outside 1..180", c.MarkWidthDeg)
	}
	kinds := FaultKinds()
	for i, f := range c.Faults {
		key := fmt.Sprintf("faults[%d]", i)
		switch {
		case !slices.Contains(kinds, f.Kind):
			return bad(key+".kind", "%q is not a fault; want one of %s", f.Kind, strings.Join(kinds, ", "))
		case f.At < 0:
			return bad(key+".at", "%v is negative", f.At)
		case f.For < 0:
			return bad(key+".for", "%v is negative", f.For)
		case !(f.Rate >= 0 && f.Rate <= 1) || math.IsNaN(f.Rate):
			return bad(key+".rate", "%g is outside 0..1", f.Rate)
		}
	}
	return nil
}
