package camera

import (
	"fmt"
	"math"

	"github.com/stirling-iot/stirling/sensors"
)

// Temps are the temperatures the engine model reports for one instant,
// deg C. They are what the camera sees; the Layout says where.
type Temps struct {
	Ambient float64 // room and background
	Hot     float64 // mean surface temperature of the hot cylinder
	Cold    float64 // mean surface temperature of the cold cylinder
	Flame   float64 // temperature of the flame core at full intensity
	FlameOn bool
	// FlameIntensity scales the flame core between ambient (0) and Flame
	// (1); values outside 0..1 are clamped. It lets the engine model
	// flicker or a dying burner.
	FlameIntensity float64
}

// DefaultTemps is a steady running engine: used when Opts.Temps is nil.
func DefaultTemps() Temps {
	return Temps{Ambient: 22, Hot: 180, Cold: 45, Flame: 320, FlameOn: true, FlameIntensity: 1}
}

// Layout places the three objects in the 32x24 image. Each object is drawn
// inside its rectangle and blurs into the background outside it, as through
// the camera's optics.
//
// Inside a cylinder's rectangle the temperature varies linearly from top
// to bottom around the cylinder's temperature (hotter at the bottom, near
// the burner) with a zero mean, so the mean of the rectangle is exactly the
// cylinder's temperature before noise. The flame is a blob centred on the
// pixel at column X+W/2, row Y+2H/5 of its rectangle, where it reaches the
// flame core temperature; it falls off to about a third of the way to
// ambient at the rectangle's border.
type Layout struct {
	HotCylinder  sensors.ROI `yaml:"hot_cylinder"`
	ColdCylinder sensors.ROI `yaml:"cold_cylinder"`
	Flame        sensors.ROI `yaml:"flame"`
	// Blur is the 1/e distance, in pixels, of the halo outside each
	// rectangle; 0 means sharp edges. Default 0.6: a pixel next to an
	// object sees about 40 % of its excess temperature, the next one 8 %.
	Blur float64 `yaml:"blur"`
	// Gradient is the top-to-bottom temperature spread inside a cylinder,
	// as a fraction of its excess over ambient. Default 0.1.
	Gradient float64 `yaml:"gradient"`
}

// DefaultLayout is a side view with the camera 7-10 cm from the burner: the
// hot cylinder on the left with the flame under it, the cold cylinder on the
// right, background around all three. The rectangles are the agent's
// default regions of interest (configs.DefaultROIs), so an uncalibrated
// agent on the simulator measures the right places.
func DefaultLayout() Layout {
	return Layout{
		HotCylinder:  sensors.ROI{X: 4, Y: 6, W: 8, H: 8},
		ColdCylinder: sensors.ROI{X: 20, Y: 6, W: 8, H: 8},
		Flame:        sensors.ROI{X: 5, Y: 16, W: 6, H: 6},
		Blur:         0.6,
		Gradient:     0.1,
	}
}

// ROIs returns the three rectangles as the agent's regions of interest:
// the regions a perfectly calibrated setup would use.
func (l *Layout) ROIs() sensors.ROIs {
	return sensors.ROIs{HotCylinder: l.HotCylinder, ColdCylinder: l.ColdCylinder, Flame: l.Flame}
}

// Validate checks the rectangles (as sensors.ROIs.Validate does) and the
// shape parameters.
func (l *Layout) Validate() error {
	r := l.ROIs()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("camera: layout: %w", err)
	}
	if l.Blur < 0 || l.Blur > 8 || math.IsNaN(l.Blur) {
		return fmt.Errorf("camera: layout: blur %g is outside 0..8 pixels", l.Blur)
	}
	if l.Gradient < 0 || l.Gradient > 1 || math.IsNaN(l.Gradient) {
		return fmt.Errorf("camera: layout: gradient %g is outside 0..1", l.Gradient)
	}
	return nil
}

// flameFalloff makes the flame blob reach exp(-1.1) ~ 1/3 of its excess at
// the border of its rectangle.
const flameFalloff = 1.1

// Render draws the scene for t into dst (deg C, pixel = row*32+col),
// without noise.
func (l *Layout) Render(t Temps, dst *[sensors.Pixels]float64) {
	l.weights().render(t, dst)
}

// weights are, per pixel, how much of each object's excess over ambient
// the pixel sees: the scene is linear in the three excesses, so a fixed
// layout renders with three multiplications per pixel.
type weights struct {
	hot, cold, flame [sensors.Pixels]float64
}

func (l *Layout) weights() *weights {
	w := new(weights)
	fr := l.Flame
	fcx := float64(fr.X+fr.W/2) + 0.5
	fcy := float64(fr.Y) + math.Floor(float64(fr.H)*2/5) + 0.5
	for row := range sensors.Height {
		y := float64(row) + 0.5
		for col := range sensors.Width {
			x := float64(col) + 0.5
			i := row*sensors.Width + col
			w.hot[i] = l.cylinder(l.HotCylinder, x, y)
			w.cold[i] = l.cylinder(l.ColdCylinder, x, y)
			// Flame: a Gaussian blob in the rectangle's normalised
			// coordinates, continued outside by the optical blur.
			nx := (x - fcx) / (float64(fr.W) / 2)
			ny := (y - fcy) / (float64(fr.H) / 2)
			w.flame[i] = math.Exp(-flameFalloff*(nx*nx+ny*ny)) * l.halo(fr, x, y)
		}
	}
	return w
}

// render draws t: each pixel shows the object whose contribution is
// largest in magnitude (objects occlude, they do not add up).
func (w *weights) render(t Temps, dst *[sensors.Pixels]float64) {
	a := t.Ambient
	core := a
	if t.FlameOn && !math.IsNaN(t.FlameIntensity) {
		core = a + (t.Flame-a)*min(max(t.FlameIntensity, 0), 1)
	}
	hot, cold, flame := t.Hot-a, t.Cold-a, core-a
	for i := range dst {
		best := hot * w.hot[i]
		if d := cold * w.cold[i]; math.Abs(d) > math.Abs(best) {
			best = d
		}
		if d := flame * w.flame[i]; math.Abs(d) > math.Abs(best) {
			best = d
		}
		dst[i] = a + best
	}
}

// cylinder is the fraction of a cylinder's excess temperature seen at
// (x, y).
func (l *Layout) cylinder(r sensors.ROI, x, y float64) float64 {
	// Linear gradient with zero mean over the rectangle's rows, evaluated
	// at the row nearest (x, y) so the halo continues the edge value.
	cy := math.Min(math.Max(y, float64(r.Y)+0.5), float64(r.Y+r.H)-0.5)
	mid := float64(r.Y) + float64(r.H)/2
	half := math.Max(float64(r.H)/2, 0.5)
	return (1 + l.Gradient*(cy-mid)/half/2) * l.halo(r, x, y)
}

// halo is 1 inside r and decays with the distance from r outside it.
func (l *Layout) halo(r sensors.ROI, x, y float64) float64 {
	dx := math.Max(math.Max(float64(r.X)-x, x-float64(r.X+r.W)), 0)
	dy := math.Max(math.Max(float64(r.Y)-y, y-float64(r.Y+r.H)), 0)
	if dx == 0 && dy == 0 {
		return 1
	}
	if l.Blur <= 0 {
		return 0
	}
	return math.Exp(-math.Hypot(dx, dy) / l.Blur)
}
