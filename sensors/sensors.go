// Package sensors holds the small types shared by the stirling sensor
// drivers (thermal frames, tachometer edges and speeds, regions of interest)
// and by their consumers. It imports nothing from the rest of stirling.
package sensors

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Geometry of the MLX90640 array.
const (
	Width  = 32
	Height = 24
	Pixels = Width * Height
)

// Frame is one full 32x24 thermal image, assembled from the camera's two
// subpages. Pixel i is row i/Width, column i%Width. The caller owns the Frame;
// drivers fill it in place and never keep a reference.
type Frame struct {
	Seq  uint64    // increments with every subpage merged into the frame
	Time time.Time // sensor time of the newest subpage
	Ta   float64   // sensor die (ambient) temperature, deg C
	Vdd  float64   // supply voltage, V

	To      [Pixels]float64   // object temperature, deg C; meaningful only where Valid
	Valid   [Pixels]bool      // pixel has been computed from an accepted subpage
	Bad     [Pixels]bool      // broken or outlier pixel in the EEPROM (value is interpolated)
	Updated [Pixels]time.Time // sensor time of the subpage that last wrote the pixel
}

// Age is how old pixel i is at time now; a pixel never written is infinitely old.
func (f *Frame) Age(i int, now time.Time) time.Duration {
	if f.Updated[i].IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(f.Updated[i])
}

// Temperature returns pixel i as a physic.Temperature.
func (f *Frame) Temperature(i int) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(f.To[i]*float64(physic.Kelvin))
}

// Edge is one transition of the tachometer line.
type Edge struct {
	// Mono is the edge's monotonic timestamp: the kernel's CLOCK_MONOTONIC
	// timestamp_ns for the character device, or the source's own monotonic
	// clock for the fallback and the simulator. Periods are computed from it.
	Mono time.Duration
	// Wall is the wall-clock time of the edge, derived from Mono.
	Wall   time.Time
	Rising bool
	// Seq is the source's sequence number for this line (the kernel's
	// line_seqno). A gap between successive edges means edges were lost.
	Seq uint64
	// Precise is false when the timestamp was taken in user space.
	Precise bool
}

// Speed is one flywheel speed measurement.
type Speed struct {
	Time    time.Time // sensor time of the mark that closed the period, or of the stall decision
	RPM     float64   // revolutions per minute; 0 when stalled
	Precise bool      // computed from kernel timestamps
}

// Frequency returns the speed as a physic.Frequency.
func (s Speed) Frequency() physic.Frequency {
	return physic.Frequency(s.RPM / 60 * float64(physic.Hertz))
}

// ROI is a rectangle of pixels: columns X..X+W-1, rows Y..Y+H-1.
type ROI struct {
	X int `yaml:"x" json:"x"`
	Y int `yaml:"y" json:"y"`
	W int `yaml:"w" json:"w"`
	H int `yaml:"h" json:"h"`
}

// ErrROI is wrapped by every ROI validation error.
var ErrROI = errors.New("invalid region of interest")

// Validate reports whether r is non-empty and inside the 32x24 frame.
func (r ROI) Validate() error {
	switch {
	case r.W <= 0 || r.H <= 0:
		return fmt.Errorf("%w: %dx%d is empty (w and h must be at least 1)", ErrROI, r.W, r.H)
	case r.X < 0 || r.Y < 0 || r.X+r.W > Width || r.Y+r.H > Height:
		return fmt.Errorf("%w: x=%d y=%d w=%d h=%d leaves the %dx%d frame", ErrROI, r.X, r.Y, r.W, r.H, Width, Height)
	}
	return nil
}

// Contains reports whether pixel (col, row) is inside r.
func (r ROI) Contains(col, row int) bool {
	return col >= r.X && col < r.X+r.W && row >= r.Y && row < r.Y+r.H
}

// Overlaps reports whether r and o share a pixel.
func (r ROI) Overlaps(o ROI) bool {
	return r.X < o.X+o.W && o.X < r.X+r.W && r.Y < o.Y+o.H && o.Y < r.Y+r.H
}

// Area is the number of pixels in r.
func (r ROI) Area() int { return r.W * r.H }

// String formats r as the calibrate flag syntax "x,y,w,h".
func (r ROI) String() string { return fmt.Sprintf("%d,%d,%d,%d", r.X, r.Y, r.W, r.H) }

// ROIs are the three regions the agent measures. The YAML form is the ROI
// file that `stirling calibrate` writes and the agent watches.
type ROIs struct {
	HotCylinder  ROI `yaml:"hot_cylinder" json:"hot_cylinder"`
	ColdCylinder ROI `yaml:"cold_cylinder" json:"cold_cylinder"`
	Flame        ROI `yaml:"flame" json:"flame"`
}

// ROI names as they appear in files, flags and metric names.
const (
	HotCylinder  = "hot_cylinder"
	ColdCylinder = "cold_cylinder"
	Flame        = "flame"
)

// Named returns the three regions with their names, in a fixed order.
func (r *ROIs) Named() [3]struct {
	Name string
	ROI  ROI
} {
	return [3]struct {
		Name string
		ROI  ROI
	}{{HotCylinder, r.HotCylinder}, {ColdCylinder, r.ColdCylinder}, {Flame, r.Flame}}
}

// Validate checks each region and that the two cylinders do not overlap.
// The flame may overlap the hot cylinder (the flame licks it) but not the
// cold one.
func (r *ROIs) Validate() error {
	var errs []error
	for _, n := range r.Named() {
		if err := n.ROI.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
	}
	if len(errs) == 0 {
		if r.HotCylinder.Overlaps(r.ColdCylinder) {
			errs = append(errs, fmt.Errorf("%w: hot_cylinder and cold_cylinder overlap", ErrROI))
		}
		if r.Flame.Overlaps(r.ColdCylinder) {
			errs = append(errs, fmt.Errorf("%w: flame and cold_cylinder overlap", ErrROI))
		}
	}
	return errors.Join(errs...)
}
