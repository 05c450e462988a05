package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/perm"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// sensorSet is what the agent reads from: a camera it can (re)open and the
// tachometer, on real hardware or on the simulated bus.
type sensorSet struct {
	openCamera func(ctx context.Context) (*mlx90640.Dev, error)
	background []func(ctx context.Context) error // simulator stepping, if any
	closers    []func() error
	precise    bool // edges carry kernel timestamps
	sim        simHandle
}

func (s *sensorSet) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
}

func (a *agent) openSensors(ctx context.Context) (*sensorSet, error) {
	to, err := a.tachOpts()
	if err != nil {
		return nil, err
	}
	var s *sensorSet
	var src tachometer.Source
	switch a.cfg.Sensors.Bus {
	case configs.BusSim:
		s, src, err = a.openSim()
	case configs.BusHardware:
		s, src, err = a.openHardware(ctx)
	default:
		err = fmt.Errorf("sensors.bus: unknown bus %q (want hardware or sim)", a.cfg.Sensors.Bus)
	}
	if err != nil {
		return nil, err
	}
	t, err := tachometer.New(src, to)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("tachometer: %w", err)
	}
	a.tach.Store(t)
	return s, nil
}

// openHardware opens the I2C bus and the GPIO line of a Raspberry Pi.
func (a *agent) openHardware(ctx context.Context) (*sensorSet, tachometer.Source, error) {
	th, tc := a.cfg.Sensors.Thermal, a.cfg.Sensors.Tachometer
	devs := []string{i2cDevice(th.I2CBus)}
	if chip := gpioChipDevice(tc.Chip); chip != "" {
		devs = append(devs, chip)
	}
	if err := (perm.Checker{}).Check(devs...); err != nil {
		return nil, nil, err
	}
	if _, err := host.Init(); err != nil {
		return nil, nil, fmt.Errorf("periph host init: %w", err)
	}
	bus, err := i2creg.Open(th.I2CBus)
	if err != nil {
		return nil, nil, fmt.Errorf("open I2C bus %q (sensors.thermal.i2c_bus; is I2C enabled with dtparam=i2c_arm=on?): %w", th.I2CBus, err)
	}
	s := &sensorSet{closers: []func() error{bus.Close}}
	s.openCamera = func(ctx context.Context) (*mlx90640.Dev, error) {
		return mlx90640.New(ctx, i2c.Bus(bus), a.cameraOpts())
	}
	bias, err := tachometer.ParseBias(tc.Bias)
	if err != nil {
		s.close()
		return nil, nil, fmt.Errorf("sensors.tachometer.bias: %w", err)
	}
	line := strconv.Itoa(tc.Line)
	cd, err := tachometer.OpenChardev(ctx, &tachometer.ChardevOpts{
		Chip: tc.Chip, Line: line, Bias: bias, Logger: a.log,
	})
	if err == nil {
		s.closers = append(s.closers, cd.Close)
		s.precise = true
		a.log.Info("kernel-timestamped GPIO character device", "component", "tachometer", "line", cd.String())
		return s, cd, nil
	}
	if errors.Is(err, perm.ErrDenied) {
		s.close()
		return nil, nil, err
	}
	a.log.Warn("GPIO character device unavailable; falling back to periph WaitForEdge with user-space timestamps (LOWER PRECISION)", "component", "tachometer", "err", err)
	edge, _ := tachometer.ParseEdge(tc.Edge)
	pp, perr := tachometer.OpenPeriph(ctx, "GPIO"+line, &tachometer.PeriphOpts{MarkEdge: edge, Bias: bias, Logger: a.log})
	if perr != nil {
		s.close()
		return nil, nil, fmt.Errorf("tachometer: no edge source: chardev: %w; periph: %w", err, perr)
	}
	return s, pp, nil
}

// i2cDevice maps the configured bus ("1", "I2C1" or "/dev/i2c-1") to its device node.
func i2cDevice(bus string) string {
	if strings.HasPrefix(bus, "/dev/") {
		return bus
	}
	return "/dev/i2c-" + strings.TrimPrefix(strings.ToUpper(bus), "I2C")
}

// gpioChipDevice maps the configured chip to its device node; "" when the
// chip is found by label at run time.
func gpioChipDevice(chip string) string {
	switch {
	case chip == "":
		return ""
	case strings.HasPrefix(chip, "/dev/"):
		return chip
	case strings.HasPrefix(chip, "gpiochip"):
		return "/dev/" + chip
	}
	return ""
}
