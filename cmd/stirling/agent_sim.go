package main

import (
	"errors"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// simHandle exposes the simulator's counters; nil on hardware.
type simHandle interface {
	metrics() []status.Metric
}

// openSim builds the simulated engine, camera and tachometer line.
func (a *agent) openSim() (*sensorSet, tachometer.Source, error) {
	return nil, nil, errors.New("simulator: not wired yet")
}
