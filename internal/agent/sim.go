package agent

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// simHandle exposes the simulator's metrics; nil on hardware.
type simHandle interface {
	prometheus.Collector
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
		sim:        s,
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
