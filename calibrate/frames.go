package calibrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/stirling-iot/stirling/internal/perm"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// openFrameSource picks the frame source of o.Source: the agent, else (for
// auto) the camera; or the simulated camera. Without a ROI file, the
// agent's current regions replace initial.
func (c *command) openFrameSource(ctx context.Context, initial sensors.ROIs, fromFile bool) (FrameSource, sensors.ROIs, func(), error) {
	nop := func() {}
	o := &c.o

	if o.Source == SourceAuto || o.Source == SourceAgent {
		hs := NewHTTPSource(o.Agent, &http.Client{Timeout: 3 * time.Second})
		var fr sensors.Frame
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := hs.Next(pctx, &fr)
		cancel()
		switch {
		case err == nil:
			if !fromFile {
				if r := hs.ROIs(); r.Validate() == nil {
					initial = r
				}
			}
			fmt.Fprintf(o.Stdout, "calibrate: frames from the running agent at %s\n", o.Agent)
			return &firstFrame{first: fr, next: hs}, initial, nop, nil
		case o.Source == SourceAgent || !errors.Is(err, ErrNoAgent):
			return nil, initial, nop, fmt.Errorf("calibrate: frames from the agent: %w", err)
		}
		o.Logger.Info("no agent answering, opening the camera", "agent", o.Agent, "err", err)
	}

	if o.Source == SourceSim {
		chip, err := camera.New(nil)
		if err != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: simulated camera: %w", err)
		}
		dev, err := mlx90640.New(ctx, chip, nil)
		if err != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: simulated camera: %w", err)
		}
		fmt.Fprintln(o.Stdout, "calibrate: frames from the simulated camera")
		return fullFrames(dev.NextFrame), initial, func() { _ = dev.Halt() }, nil
	}

	if _, err := host.Init(); err != nil {
		return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and periph init failed: %w", o.Agent, err)
	}
	if _, err := strconv.Atoi(o.I2CBus); err == nil {
		if perr := (perm.Checker{}).Check("/dev/i2c-" + o.I2CBus); perr != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and the camera's bus is not accessible: %w", o.Agent, perr)
		}
	}
	bus, err := i2creg.Open(o.I2CBus)
	if err != nil {
		return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and I2C bus %q cannot be opened (is i2c enabled, is the user in group i2c? --sim runs without hardware): %w", o.Agent, o.I2CBus, err)
	}
	dev, err := mlx90640.New(ctx, bus, nil)
	if err != nil {
		bus.Close()
		return nil, initial, nop, fmt.Errorf("calibrate: camera on I2C bus %s: %w", o.I2CBus, err)
	}
	fmt.Fprintf(o.Stdout, "calibrate: frames from the camera on I2C bus %s (no agent at %s)\n", o.I2CBus, o.Agent)
	return fullFrames(dev.NextFrame), initial, func() { _ = dev.Halt(); _ = bus.Close() }, nil
}

// firstFrame returns an already fetched frame first.
type firstFrame struct {
	first sensors.Frame
	used  bool
	next  FrameSource
}

var _ FrameSource = (*firstFrame)(nil)

func (s *firstFrame) Next(ctx context.Context, dst *sensors.Frame) error {
	if !s.used {
		s.used = true
		*dst = s.first
		return nil
	}
	return s.next.Next(ctx, dst)
}

// fullFrames reads subpages until the first frame has every pixel, then one
// subpage per call (the caller's frame keeps the other subpage).
func fullFrames(next func(context.Context, *sensors.Frame) error) FrameFunc {
	return func(ctx context.Context, dst *sensors.Frame) error {
		for range 4 {
			if err := next(ctx, dst); err != nil {
				return err
			}
			complete := true
			for _, v := range dst.Valid {
				complete = complete && v
			}
			if complete {
				return nil
			}
		}
		return nil
	}
}
