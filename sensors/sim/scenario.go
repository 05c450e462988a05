package sim

import "time"

// Scenario names.
const (
	ScenarioRun      = "run"       // cold start: light at 2 s, heat up, start, run for ever
	ScenarioDemo     = "demo"      // cold start, run, flame-out at 8 min, relight at 11 min; repeats every 16 min
	ScenarioSteady   = "steady"    // at steady_rpm from the first instant, constant flame, no gusts
	ScenarioFlameOut = "flame_out" // at steady_rpm; the flame goes out at 60 s for good: cool down and stall ("flameout" too)
	ScenarioStall    = "stall"     // at steady_rpm; at 30 s the flame is turned down too low: slow down and stall
	ScenarioIdle     = "idle"      // cold engine, flame never lit
)

// Scenarios lists the scenario names.
func Scenarios() []string {
	return []string{ScenarioRun, ScenarioDemo, ScenarioSteady, ScenarioFlameOut, ScenarioStall, ScenarioIdle}
}

// step is one entry of a scenario's timeline: from At on, the burner is set
// like this.
type step struct {
	At        time.Duration
	Flame     bool
	Intensity float64 // burner setting 0..1
	Gusts     float64 // relative flicker (standard deviation of the gust factor)
}

// scenario is a timeline; with Period > 0 it repeats.
type scenario struct {
	Steps  []step
	Period time.Duration
	// SteadyRPM > 0 starts the engine in equilibrium at that speed with
	// the first step's flame.
	SteadyRPM float64
}

func newScenario(name string, steadyRPM float64) scenario {
	switch name {
	case ScenarioDemo:
		return scenario{Period: 16 * time.Minute, Steps: []step{
			{At: 0},
			{At: 5 * time.Second, Flame: true, Intensity: 0.75, Gusts: 0.04},
			{At: 8 * time.Minute},
			{At: 11 * time.Minute, Flame: true, Intensity: 0.6, Gusts: 0.04},
			{At: 14 * time.Minute, Flame: true, Intensity: 0.8, Gusts: 0.06},
		}}
	case ScenarioSteady:
		return scenario{SteadyRPM: steadyRPM, Steps: []step{{Flame: true}}}
	case ScenarioFlameOut, "flameout":
		return scenario{SteadyRPM: steadyRPM, Steps: []step{{Flame: true, Gusts: 0.02}, {At: time.Minute}}}
	case ScenarioStall:
		return scenario{SteadyRPM: steadyRPM, Steps: []step{{Flame: true}, {At: 30 * time.Second, Flame: true, Intensity: 0.05}}}
	case ScenarioIdle:
		return scenario{Steps: []step{{}}}
	}
	return scenario{Steps: []step{{}, {At: 2 * time.Second, Flame: true, Intensity: 0.6, Gusts: 0.03}}}
}

// at is the step in force at engine time t.
func (s *scenario) at(t time.Duration) step {
	if s.Period > 0 {
		t %= s.Period
	}
	cur := s.Steps[0]
	for _, st := range s.Steps[1:] {
		if st.At > t {
			break
		}
		cur = st
	}
	return cur
}
