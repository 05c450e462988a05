package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/sensors"
)

// Default returns the configuration every file starts from: the one place
// the defaults of the file live. The pipeline's, the spool's and the
// simulator's agree with their packages' DefaultOpts (a test in
// internal/agent holds them together), so that configs stays a leaf.
// It has no publishers; a file must list at least one.
func Default() *Config {
	return &Config{
		Sensors: Sensors{
			Bus: BusSim,
			Thermal: Thermal{
				I2CBus:     "1",
				Address:    0x33,
				RefreshHz:  4,
				Resolution: 18,
				Pattern:    "chess",
				Emissivity: 0.95,
			},
			Tachometer: Tachometer{
				Chip:         "gpiochip0",
				Line:         4,
				Edge:         "rising",
				Bias:         "pull_up",
				MarksPerRev:  1,
				MinRPM:       20,
				MaxRPM:       3000,
				StallTimeout: 3 * time.Second,
			},
			Sim: Sim{
				Scenario:     "run",
				Seed:         1,
				Speedup:      1,
				SteadyRPM:    600,
				AmbientC:     22,
				Jitter:       2 * time.Microsecond,
				MarkWidthDeg: 12,
			},
		},
		ROIsFile: "rois.yaml",
		Pipeline: Pipeline{
			Window:      time.Second,
			WindowGrace: 250 * time.Millisecond,
			Metrics:     DefaultMetrics(),
			Hampel:      Hampel{Window: 7, Threshold: 3, MinDeviation: 1},
			Heartbeat:   time.Minute,
			ROI:         ROIStats{MinValid: 0.5, MaxPixelAge: 2 * time.Second},
			Engine:      Engine{RunningRPM: 30, FlameOnC: 100, FlameOffC: 80, WarmDeltaK: 10},
			Batch:       Batch{MaxReadings: 500, MaxBytes: 64 * KiB, MaxLatency: 2 * time.Second},
		},
		Spool: Spool{
			Dir:          "var/spool",
			MaxBytes:     256 * MiB,
			MaxAge:       7 * 24 * time.Hour,
			SegmentBytes: 4 * MiB,
			SyncInterval: time.Second,
		},
		HTTP: HTTP{Listen: "127.0.0.1:8080", HealthzMaxSilence: 5 * time.Minute},
		ROIs: DefaultROIs(),
	}
}

// DefaultROIs are the regions used before calibration: they match the
// simulator's default scene (hot cylinder left, cold cylinder right, flame
// under the hot cylinder).
func DefaultROIs() sensors.ROIs {
	return sensors.ROIs{
		HotCylinder:  sensors.ROI{X: 4, Y: 6, W: 8, H: 8},
		ColdCylinder: sensors.ROI{X: 20, Y: 6, W: 8, H: 8},
		Flame:        sensors.ROI{X: 5, Y: 16, W: 6, H: 6},
	}
}

// Size is a byte count. In YAML it is an integer or a string with a unit:
// "64KiB", "16MiB", "1GiB" (powers of 1024), "500kB", "10MB" (powers of 1000).
type Size int64

// Byte sizes.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// ParseSize parses "64KiB", "10MB", "4096" or "4096B".
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size like 4096, 64KiB or 16MiB")
	}
	return Size(n * mult), nil
}

// String formats s with the largest binary unit that divides it.
func (s Size) String() string {
	switch {
	case s != 0 && s%GiB == 0:
		return strconv.FormatInt(int64(s/GiB), 10) + "GiB"
	case s != 0 && s%MiB == 0:
		return strconv.FormatInt(int64(s/MiB), 10) + "MiB"
	case s != 0 && s%KiB == 0:
		return strconv.FormatInt(int64(s/KiB), 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML accepts an integer (also written as a whole float, as
// JSON numbers arrive) or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size like 4096, 64KiB or 16MiB")
	}
	if i, ok := integer(n); ok && n.Tag == "!!float" && i >= 0 {
		*s = Size(i)
		return nil
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes the String form.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
