package sim

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

func roiMean(f *sensors.Frame, r sensors.ROI) (mean, peak float64) {
	n := 0
	peak = math.Inf(-1)
	for y := r.Y; y < r.Y+r.H; y++ {
		for x := r.X; x < r.X+r.W; x++ {
			v := f.To[y*sensors.Width+x]
			mean += v
			peak = max(peak, v)
			n++
		}
	}
	return mean / float64(n), peak
}

// TestCameraSeesEngine reads the simulated camera with the real driver and
// finds the engine's temperatures in the default regions of interest.
func TestCameraSeesEngine(t *testing.T) {
	clk := clock.NewScaled(origin, 20)
	s := newSim(t, Config{Scenario: ScenarioSteady, SteadyRPM: 1500, Seed: 3}, clk)
	o := mlx90640.DefaultOpts()
	o.Clock = clk
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := mlx90640.New(ctx, s.Camera(), &o)
	if err != nil {
		t.Fatal(err)
	}
	var f sensors.Frame
	for range 3 { // both subpages, twice
		if err := d.NextFrame(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	st := s.State(f.Time)
	l := camera.DefaultLayout()
	hot, _ := roiMean(&f, l.HotCylinder)
	cold, _ := roiMean(&f, l.ColdCylinder)
	_, flame := roiMean(&f, l.Flame)
	if math.Abs(hot-st.Hot) > 2 || math.Abs(cold-st.Cold) > 2 {
		t.Errorf("camera hot %.1f cold %.1f, engine hot %.1f cold %.1f", hot, cold, st.Hot, st.Cold)
	}
	if flame < 300 {
		t.Errorf("flame peak %.0f C, want > 300", flame)
	}
	t.Logf("camera hot %.1f cold %.1f flame %.0f; engine %+v", hot, cold, flame, st)

	// Unplugging the camera is a switch on the same simulator.
	if err := s.SetFault(camera.KindUnplugged, true); err != nil {
		t.Fatal(err)
	}
	if err := d.NextFrame(ctx, &f); !errors.Is(err, camera.ErrNACK) {
		t.Errorf("unplugged camera: %v, want a NACK", err)
	}
	if err := s.SetFault("no_such_fault", true); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown fault: %v", err)
	}
}
