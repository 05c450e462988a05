package sim

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// Temps is the engine as the camera sees it at clock time t.
func (s *Sim) Temps(t time.Time) camera.Temps {
	st := s.State(t)
	return camera.Temps{
		Ambient:        st.Ambient,
		Hot:            st.Hot,
		Cold:           st.Cold,
		Flame:          st.Flame,
		FlameOn:        st.FlameOn || st.Flame > st.Ambient+5,
		FlameIntensity: 1, // Flame already is the core temperature now
	}
}

// Camera is the simulated MLX90640 on its I2C bus (address 0x33), looking
// at this engine: an i2c.Bus for mlx90640.New, with its own fault switches
// (SetFault reaches them too) and counters.
func (s *Sim) Camera() *camera.Chip { return s.cam }

func (s *Sim) newCamera() error {
	o := camera.DefaultOpts()
	o.Clock = s.clk
	o.Logger = s.base
	o.Seed = uint64(s.seed) + 2
	o.Temps = s.Temps
	cam, err := camera.New(&o)
	if err != nil {
		return fmt.Errorf("sim: camera: %w", err)
	}
	s.cam = cam
	return s.applyCameraWindows(0)
}

// applyCameraWindows switches the camera kinds the config's windows cover
// at engine time t, and switches them off when their windows end.
func (s *Sim) applyCameraWindows(t time.Duration) error {
	want := map[string]bool{}
	for i := range s.cfg.Faults {
		f := &s.cfg.Faults[i]
		if slices.Contains(camera.Kinds(), f.Kind) && f.active(t) {
			want[f.Kind] = true
		}
	}
	for _, kind := range camera.Kinds() {
		if want[kind] == s.camOn[kind] {
			continue
		}
		if err := s.SetFault(kind, want[kind]); err != nil {
			return err
		}
		s.camOn[kind] = want[kind]
	}
	return nil
}

// nextCameraBoundary is the first start or end of a camera fault window
// after engine time t (a far future when there is none).
func (s *Sim) nextCameraBoundary(t time.Duration) time.Duration {
	next := time.Duration(math.MaxInt64)
	for i := range s.cfg.Faults {
		f := &s.cfg.Faults[i]
		if !slices.Contains(camera.Kinds(), f.Kind) {
			continue
		}
		for _, b := range f.boundaries() {
			if b > t && b < next {
				next = b
			}
		}
	}
	return next
}
