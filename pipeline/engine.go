package pipeline

import (
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// frameStats is what the pipeline keeps of a frame: the statistics of the
// three regions, computed in the caller's goroutine.
type frameStats struct {
	t   int64
	roi [3]ROIStats // hot, cold, flame (sensors.ROIs.Named order)
}

// engine is the engine-state machine.
//
//	flame lit,  rpm >= running_rpm                 -> running
//	flame lit,  slower, was running since lit      -> stalled
//	flame lit,  slower, not yet running since lit  -> heating
//	no flame,   turning or delta_t >= warm_delta_k -> flame_out
//	no flame,   still and cool                     -> cold
//
// The flame is "lit" while the flame region's p90 is above flame_on_c,
// until it drops below flame_off_c (hysteresis). Until the first frame
// with a usable flame region the state is unknown.
type engine struct {
	o          EngineOpts
	state      EngineState
	flame      bool
	flameKnown bool
	wasRunning bool
	rpm        float64
	deltaT     float64
	stateT     int64 // sensor time the state was last reported
}

func (e *engine) step() EngineState {
	if !e.flameKnown {
		return e.state
	}
	running := e.rpm >= e.o.RunningRPM
	switch {
	case e.flame && running:
		e.wasRunning = true
		return StateRunning
	case e.flame && e.wasRunning:
		return StateStalled
	case e.flame:
		return StateHeating
	}
	e.wasRunning = false
	if running || e.deltaT >= e.o.WarmDeltaK {
		return StateFlameOut
	}
	return StateCold
}

// frame turns one frame's region statistics into samples and updates the
// engine state.
func (k *core) frame(fs *frameStats) {
	k.c.frames.Add(1)
	type ids struct{ mean, min, max, p90, px metricID }
	table := [3]ids{
		{mHot, mHotMin, mHotMax, mHotP90, mHotPixels},
		{mCold, mColdMin, mColdMax, mColdP90, mColdPixels},
		{mFlame, mFlameMin, mFlameMax, mFlameP90, mFlamePixels},
	}
	for i, st := range fs.roi {
		m := table[i]
		if st.Quality == Bad {
			k.c.roiBad[i].Add(1)
		}
		k.add(sample{m.mean, fs.t, st.Mean, st.Quality})
		k.add(sample{m.min, fs.t, st.Min, st.Quality})
		k.add(sample{m.max, fs.t, st.Max, st.Quality})
		k.add(sample{m.p90, fs.t, st.P90, st.Quality})
		k.add(sample{m.px, fs.t, float64(st.N), Good})
	}
	hot, cold, flame := &fs.roi[0], &fs.roi[1], &fs.roi[2]
	q := max(hot.Quality, cold.Quality)
	dt := hot.Mean - cold.Mean
	k.add(sample{mDeltaT, fs.t, dt, q})
	th, tc := hot.Mean+273.15, cold.Mean+273.15
	carnot, cq := 0.0, q
	if th > 0 && tc > 0 {
		carnot = max(0, 1-tc/th)
	} else {
		cq = Bad
	}
	k.add(sample{mCarnot, fs.t, carnot, cq})
	if q != Bad {
		k.eng.deltaT = dt
	}
	if flame.Quality != Bad {
		switch {
		case !k.eng.flame && flame.P90 > k.eng.o.FlameOnC:
			k.eng.flame = true
		case k.eng.flame && flame.P90 < k.eng.o.FlameOffC:
			k.eng.flame = false
		}
		k.eng.flameKnown = true
		v := 0.0
		if k.eng.flame {
			v = 1
		}
		k.add(sample{mFlamePresent, fs.t, v, flame.Quality})
	} else {
		k.add(sample{mFlamePresent, fs.t, 0, Bad})
	}
	k.updateState(fs.t)
}

// speed takes one tachometer reading.
func (k *core) speed(s *sensors.Speed) {
	k.c.speeds.Add(1)
	t := s.Time.UnixNano()
	k.add(sample{mRPM, t, s.RPM, Good})
	if s.RPM >= 0 && s.RPM <= k.m[mRPM].opts.Max {
		k.eng.rpm = s.RPM
	}
	k.updateState(t)
}

// updateState reports a state change at once (its own reading, flushed
// immediately so alarms are not delayed by batching).
func (k *core) updateState(t int64) {
	s := k.eng.step()
	if s == k.eng.state {
		return
	}
	k.eng.state = s
	k.c.stateChanges.Add(1)
	k.c.state.Store(uint32(s))
	k.reportState(t)
	k.flush()
}

func (k *core) reportState(t int64) {
	k.eng.stateT = t
	v := float64(k.eng.state)
	r := Reading{
		Metric: MetricEngineState, Unit: UnitOne, Time: time.Unix(0, t).UTC(),
		Value: v, Text: k.eng.state.String(), Quality: Good,
		Min: v, Max: v, Last: v, Count: 1,
	}
	k.latestMu.Lock()
	k.latest[mEngineState], k.hasLast[mEngineState] = r, true
	k.latestMu.Unlock()
	k.put(&r)
}

// engineHeartbeat repeats the state when it has not been sent for a
// heartbeat, at sensor time t.
func (k *core) engineHeartbeat(t int64) {
	if k.eng.state != StateUnknown && t-k.eng.stateT >= k.hb {
		k.reportState(t)
	}
}
