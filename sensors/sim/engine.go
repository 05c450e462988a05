package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Model constants. Temperatures in deg C, rates per second, speed in RPM.
// They give a hot cylinder near 200 deg C and 3000 RPM at a full flame,
// thermal lags of about a minute, and a flywheel time constant of 2 s.
const (
	stepDur   = time.Millisecond
	stepSec   = 0.001
	heatPower = 5.0       // K/s into the hot cylinder at intensity 1
	hotLoss   = 1.0 / 90  // hot cylinder to room, 1/s
	coldLoss  = 0.075     // cold cylinder to room, 1/s
	carry0    = 1.0 / 200 // hot to cold through the engine at standstill, 1/s
	carryRPM  = 1500.0    // the carry doubles at this speed
	torqueK   = 12.5      // RPM/s of acceleration per kelvin above the friction threshold
	dragK     = 0.5       // viscous friction, 1/s
	runDelta  = 30.0      // hot-cold difference that just covers friction, K
	startDelt = 45.0      // difference that overcomes static friction from rest, K
	stallRPM  = 15.0      // below this, decelerating, the engine stops
	flameMax  = 480.0     // flame core at full intensity, deg C
	flameLag  = 0.5       // flame temperature time constant, s
	gustTau   = 1.5       // gust correlation time, s
	gustEvery = 10        // steps between gust updates
)

// State is the engine at one instant.
type State struct {
	Time      time.Time
	FlameOn   bool
	Intensity float64 // effective burner intensity 0..1, gusts included
	Ambient   float64 // deg C
	Hot       float64 // hot cylinder, deg C
	Cold      float64 // cold cylinder, deg C
	Flame     float64 // flame core, deg C (ambient when out)
	RPM       float64
	Revs      float64 // flywheel angle in revolutions since the start (the mark is at whole numbers)
	Running   bool
}

// engine is the physical model; its owner (Sim) serialises access.
type engine struct {
	origin         time.Time
	scen           scenario
	rng            *rand.Rand
	k              int64 // steps done
	s              State
	gust           float64
	flameOutForced func(t time.Duration) bool

	prev   State       // the state before the current step (a field, so it does not escape)
	hist   [2048]State // hist[k % len] is the state after step k
	onStep func(prev, cur *State, t0 time.Duration)
}

// equilibrium returns the hot and cold temperatures and the burner
// intensity at which the engine turns steadily at rpm.
func equilibrium(ambient, rpm float64) (hot, cold, intensity float64) {
	delta := runDelta + dragK*rpm/torqueK
	carry := carry0 * (1 + rpm/carryRPM)
	cold = ambient + carry*delta/coldLoss
	hot = cold + delta
	intensity = (hotLoss*(hot-ambient) + carry*delta) / heatPower
	return hot, cold, intensity
}

func newEngine(origin time.Time, scen scenario, ambient float64, seed uint64) *engine {
	e := &engine{origin: origin, scen: scen, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	st := scen.at(0)
	e.s = State{Time: origin, Ambient: ambient, Hot: ambient, Cold: ambient, Flame: ambient}
	if scen.SteadyRPM > 0 {
		hot, cold, in := equilibrium(ambient, scen.SteadyRPM)
		e.s.Hot, e.s.Cold, e.s.RPM, e.s.Running = hot, cold, scen.SteadyRPM, true
		for i := range scen.Steps {
			if scen.Steps[i].Flame && scen.Steps[i].Intensity == 0 {
				scen.Steps[i].Intensity = in
			}
		}
		e.scen = scen
		st = scen.at(0)
	}
	if st.Flame {
		e.s.FlameOn, e.s.Intensity = true, st.Intensity
		e.s.Flame = flameTemp(ambient, st.Intensity)
	}
	e.hist[0] = e.s
	return e
}

// flameTemp is the flame core at a burner intensity: a small flame is
// still hot, a big one hotter.
func flameTemp(ambient, intensity float64) float64 {
	return ambient + (flameMax-ambient)*(0.6+0.4*intensity)
}

// now is the engine time reached.
func (e *engine) now() time.Duration { return time.Duration(e.k) * stepDur }

// advance steps the model until engine time reaches t.
func (e *engine) advance(t time.Time) {
	target := t.Sub(e.origin)
	for e.now()+stepDur <= target {
		e.step()
	}
}

// step advances one stepDur.
func (e *engine) step() {
	e.prev = e.s
	t0 := e.now()
	st := e.scen.at(t0)
	if e.flameOutForced != nil && e.flameOutForced(t0) {
		st.Flame = false
	}
	if e.k%gustEvery == 0 {
		// Ornstein-Uhlenbeck gust factor with standard deviation st.Gusts.
		dt := gustEvery * stepSec
		a := math.Exp(-dt / gustTau)
		e.gust = e.gust*a + st.Gusts*math.Sqrt(1-a*a)*e.rng.NormFloat64()
	}
	s := &e.s
	s.FlameOn = st.Flame
	s.Intensity = 0
	if st.Flame {
		s.Intensity = min(max(st.Intensity*(1+e.gust), 0), 1)
	}
	flameTarget := s.Ambient
	if s.FlameOn {
		flameTarget = flameTemp(s.Ambient, s.Intensity)
	}
	s.Flame += (flameTarget - s.Flame) * (stepSec / flameLag)

	delta := s.Hot - s.Cold
	carry := carry0 * (1 + s.RPM/carryRPM) * delta
	dHot := heatPower*s.Intensity - hotLoss*(s.Hot-s.Ambient) - carry
	dCold := carry - coldLoss*(s.Cold-s.Ambient)
	s.Hot += dHot * stepSec
	s.Cold += dCold * stepSec

	if s.Running {
		acc := torqueK*(delta-runDelta) - dragK*s.RPM
		rpm := s.RPM + acc*stepSec
		if acc < 0 && rpm < stallRPM {
			rpm = 0
			s.Running = false
		}
		s.Revs += (s.RPM + rpm) / 2 / 60 * stepSec
		s.RPM = rpm
	} else if delta > startDelt {
		s.Running = true
		s.RPM = (torqueK*(delta-runDelta) - 0) * stepSec
		s.Revs += s.RPM / 2 / 60 * stepSec
	}
	e.k++
	s.Time = e.origin.Add(e.now())
	e.hist[e.k%int64(len(e.hist))] = *s
	if e.onStep != nil {
		e.onStep(&e.prev, s, t0)
	}
}

// state returns the state at t: the step at or before t, from the history
// when t is behind the model (a GPIO look-ahead ran it forward), the
// initial state before the start.
func (e *engine) state(t time.Time) State {
	target := t.Sub(e.origin)
	if target < 0 {
		target = 0
	}
	e.advance(t)
	k := int64(target / stepDur)
	if k > e.k || e.k-k >= int64(len(e.hist)) {
		return e.s
	}
	return e.hist[k%int64(len(e.hist))]
}
