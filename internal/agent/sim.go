package agent

import (
	"context"
	"fmt"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// simHandle exposes the simulator's counters; nil on hardware.
type simHandle interface {
	metrics() []status.Metric
}

// openSim builds the simulated engine, its camera on a simulated I2C bus and
// its tachometer line. The driver and the tachometer are the real ones.
func (a *agent) openSim() (*sensorSet, tachometer.Source, error) {
	s, err := sim.New(simConfig(&a.cfg.Sensors.Sim), &sim.Opts{Clock: a.clk, Logger: a.log})
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: %w", err)
	}
	cam := s.Camera()
	set := &sensorSet{
		precise:    true,
		sim:        simStats{s},
		background: []func(context.Context) error{s.Run},
		closers:    []func() error{cam.Close},
	}
	set.openCamera = func(ctx context.Context) (*mlx90640.Dev, error) {
		return mlx90640.New(ctx, cam, a.cameraOpts())
	}
	a.log.Info("simulated engine", "scenario", a.cfg.Sensors.Sim.Scenario, "seed", s.Seed(),
		"speedup", a.cfg.Sensors.Sim.Speedup, "faults", len(a.cfg.Sensors.Sim.Faults))
	return set, s.GPIO(), nil
}

type simStats struct{ s *sim.Sim }

func (h simStats) metrics() []status.Metric {
	st := h.s.Stats()
	var m metricSet
	m.gauge("sim_engine_seconds", "Simulated engine time since start, seconds.", st.EngineTime.Seconds())
	m.gauge("sim_rpm", "Simulated flywheel speed (ground truth), RPM.", st.State.RPM)
	m.gauge("sim_hot_c", "Simulated hot cylinder temperature (ground truth), deg C.", st.State.Hot)
	m.gauge("sim_cold_c", "Simulated cold cylinder temperature (ground truth), deg C.", st.State.Cold)
	m.gauge("sim_flame_on", "1 while the simulated flame burns.", b2f(st.State.FlameOn))
	m.counter("sim_gpio_edges", "Edges the simulated line delivered.", st.GPIO.Edges)
	m.counter("sim_gpio_missed_marks", "Marks suppressed by the missed_marks fault.", st.GPIO.MissedMarks)
	m.counter("sim_gpio_chatter_edges", "Extra edges from chatter bursts.", st.GPIO.ChatterEdges)
	m.counter("sim_gpio_overflowed", "Edges dropped with a sequence gap.", st.GPIO.Overflowed)
	m.counter("sim_camera_subpages", "Subpages the simulated camera measured.", st.Camera.Subpages)
	m.counter("sim_camera_nacks", "Transactions the simulated camera NACKed.", st.Camera.NACKs)
	m.counter("sim_camera_faults", "Transactions failed by an injected camera fault.", st.Camera.Faults)
	return m
}
