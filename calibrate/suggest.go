package calibrate

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/stirling-iot/stirling/sensors"
)

// ErrNoSuggestion means the frame does not show an engine to place the
// regions on (no hot spot, too few valid pixels).
var ErrNoSuggestion = errors.New("calibrate: cannot suggest regions")

// Limits of the suggested boxes, in pixels.
const (
	maxFlameSide    = 8 // the flame is compact
	maxCylinderSide = 14
	nearFlame       = 8 // the hot cylinder is within this many pixels of the flame
)

// Suggest places the three regions on f as a starting point for the user:
//
//   - flame: the hottest compact blob (pixels above halfway between the
//     median and the maximum, connected to the hottest pixel);
//   - hot cylinder: the warm region next to the flame (the largest, most
//     filled connected region above halfway between the median and the
//     hottest pixel within 8 pixels of the flame, outside the flame);
//   - cold cylinder: the cool engine region (the same, among what is left
//     two pixels away from the other two, with the threshold halfway to the
//     95th percentile of what is left).
//
// Regions for the cylinders must be solid (at least 2x2 pixels, filling at
// least half of their box), so a warm rim is never taken for a cylinder.
//
// The median of the image is taken as the ambient background, so the
// engine should cover less than half of the image. The result always passes
// sensors.ROIs.Validate; otherwise Suggest returns an error wrapping
// ErrNoSuggestion.
func Suggest(f *sensors.Frame) (sensors.ROIs, error) {
	var vals []float64
	for i, v := range f.To {
		if f.Valid[i] && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals = append(vals, v)
		}
	}
	if len(vals) < sensors.Pixels/2 {
		return sensors.ROIs{}, fmt.Errorf("%w: only %d of %d pixels are valid", ErrNoSuggestion, len(vals), sensors.Pixels)
	}
	slices.Sort(vals)
	bg := vals[len(vals)/2]
	valid := func(i int) bool { return f.Valid[i] && !math.IsNaN(f.To[i]) && !math.IsInf(f.To[i], 0) }

	// Flame: grow from the hottest pixel.
	peak := -1
	for i := range f.To {
		if valid(i) && (peak < 0 || f.To[i] > f.To[peak]) {
			peak = i
		}
	}
	if f.To[peak]-bg < 5 {
		return sensors.ROIs{}, fmt.Errorf("%w: no hot spot (hottest %.1f °C, median %.1f °C): is the burner lit and in view?",
			ErrNoSuggestion, f.To[peak], bg)
	}
	tf := bg + 0.5*(f.To[peak]-bg)
	flame := grow(f, peak, func(i int) bool { return valid(i) && f.To[i] >= tf }).box
	flame = clampAround(flame, peak, maxFlameSide)

	// Hot cylinder: the best warm region near the flame, outside it.
	excl := dilate(flame, 1)
	free := func(i int) bool { return valid(i) && !excl.Contains(i%sensors.Width, i/sensors.Width) }
	near := dilate(flame, nearFlame)
	seed := -1
	for i := range f.To {
		if free(i) && near.Contains(i%sensors.Width, i/sensors.Width) && (seed < 0 || f.To[i] > f.To[seed]) {
			seed = i
		}
	}
	if seed < 0 || f.To[seed]-bg < 3 {
		return sensors.ROIs{}, fmt.Errorf("%w: nothing warm next to the flame at %s (median %.1f °C): is the hot cylinder in view?",
			ErrNoSuggestion, flame, bg)
	}
	th := bg + 0.5*(f.To[seed]-bg)
	hot, ok := best(f, func(i int) bool { return free(i) && f.To[i] >= th }, func(c component) bool { return c.box.Overlaps(near) && solid(c) })
	if !ok {
		return sensors.ROIs{}, fmt.Errorf("%w: no warm region next to the flame: is the hot cylinder in view, and has the engine warmed up?", ErrNoSuggestion)
	}
	hot.box = clampAround(hot.box, hot.peak, maxCylinderSide)

	// Cold cylinder: among the rest, the best region clearly above ambient.
	// Two pixels around the hot cylinder and the flame are left out: the
	// optics blur their heat that far, and that rim is warmer than a cold
	// cylinder that is only starting to warm up.
	exclHot, exclFlame := dilate(hot.box, 2), dilate(flame, 2)
	free2 := func(i int) bool {
		x, y := i%sensors.Width, i/sensors.Width
		return valid(i) && !exclHot.Contains(x, y) && !exclFlame.Contains(x, y)
	}
	var rest []float64
	for i := range f.To {
		if free2(i) {
			rest = append(rest, f.To[i])
		}
	}
	if len(rest) == 0 {
		return sensors.ROIs{}, fmt.Errorf("%w: no room left for the cold cylinder", ErrNoSuggestion)
	}
	slices.Sort(rest)
	p95 := rest[len(rest)*95/100]
	if p95-bg < 1 {
		return sensors.ROIs{}, fmt.Errorf("%w: nothing above ambient besides the flame and the hot cylinder (median %.1f °C): is the cold cylinder in view, and has the engine warmed up?",
			ErrNoSuggestion, bg)
	}
	tc := bg + 0.5*(p95-bg)
	cold, ok := best(f, func(i int) bool { return free2(i) && f.To[i] >= tc }, func(c component) bool {
		return !c.box.Overlaps(hot.box) && !c.box.Overlaps(flame) && solid(c)
	})
	if !ok {
		return sensors.ROIs{}, fmt.Errorf("%w: no cool engine region apart from the hot cylinder", ErrNoSuggestion)
	}
	cold.box = clampAround(cold.box, cold.peak, maxCylinderSide)

	r := sensors.ROIs{HotCylinder: hot.box, ColdCylinder: cold.box, Flame: flame}
	if err := r.Validate(); err != nil {
		return sensors.ROIs{}, fmt.Errorf("%w: %w", ErrNoSuggestion, err)
	}
	return r, nil
}

// component is a 4-connected set of pixels.
type component struct {
	box  sensors.ROI
	area int
	peak int     // index of its hottest pixel
	heat float64 // sum of the pixel temperatures
}

// grow returns the 4-connected component of in that contains seed.
func grow(f *sensors.Frame, seed int, in func(int) bool) component {
	var seen [sensors.Pixels]bool
	return flood(f, seed, in, &seen)
}

func flood(f *sensors.Frame, seed int, in func(int) bool, seen *[sensors.Pixels]bool) component {
	c := component{peak: seed}
	x0, y0, x1, y1 := sensors.Width, sensors.Height, -1, -1
	stack := []int{seed}
	seen[seed] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := i%sensors.Width, i/sensors.Width
		c.area++
		c.heat += f.To[i]
		if f.To[i] > f.To[c.peak] {
			c.peak = i
		}
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
		for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nx, ny := x+d[0], y+d[1]
			if nx < 0 || ny < 0 || nx >= sensors.Width || ny >= sensors.Height {
				continue
			}
			j := ny*sensors.Width + nx
			if !seen[j] && in(j) {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	c.box = sensors.ROI{X: x0, Y: y0, W: x1 - x0 + 1, H: y1 - y0 + 1}
	return c
}

// best returns the component of in, among those ok accepts, with the
// highest score: area times fill ratio (area over box area), which prefers
// large solid regions over thin rims and noise.
func best(f *sensors.Frame, in func(int) bool, ok func(component) bool) (component, bool) {
	var seen [sensors.Pixels]bool
	var top component
	score := -1.0
	for i := range f.To {
		if seen[i] || !in(i) {
			continue
		}
		c := flood(f, i, in, &seen)
		if !ok(c) {
			continue
		}
		if s := float64(c.area) * float64(c.area) / float64(c.box.Area()); s > score {
			top, score = c, s
		}
	}
	return top, score >= 0
}

// solid reports whether c can be a cylinder rather than a rim or noise:
// at least 2x2 pixels and at least half of its bounding box.
func solid(c component) bool {
	return c.box.W >= 2 && c.box.H >= 2 && c.area >= 4 && 2*c.area >= c.box.Area()
}

// dilate grows r by d pixels on every side, clipped to the frame.
func dilate(r sensors.ROI, d int) sensors.ROI {
	x0, y0 := max(0, r.X-d), max(0, r.Y-d)
	x1, y1 := min(sensors.Width, r.X+r.W+d), min(sensors.Height, r.Y+r.H+d)
	return sensors.ROI{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}

// clampAround shrinks r to at most side x side pixels, keeping pixel i inside.
func clampAround(r sensors.ROI, i, side int) sensors.ROI {
	px, py := i%sensors.Width, i/sensors.Width
	if r.W > side {
		r.X = min(max(r.X, px-side/2), r.X+r.W-side)
		r.W = side
	}
	if r.H > side {
		r.Y = min(max(r.Y, py-side/2), r.Y+r.H-side)
		r.H = side
	}
	return r
}

// Stats are the statistics of the valid pixels of one region.
type Stats struct {
	N              int // valid pixels
	Mean, Min, Max float64
}

// RegionStats computes the statistics of the valid pixels of f inside r.
func RegionStats(f *sensors.Frame, r sensors.ROI) Stats {
	s := Stats{Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for y := max(0, r.Y); y < min(sensors.Height, r.Y+r.H); y++ {
		for x := max(0, r.X); x < min(sensors.Width, r.X+r.W); x++ {
			i := y*sensors.Width + x
			if !f.Valid[i] {
				continue
			}
			v := f.To[i]
			s.N++
			sum += v
			s.Min, s.Max = min(s.Min, v), max(s.Max, v)
		}
	}
	if s.N == 0 {
		return Stats{Mean: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s.Mean = sum / float64(s.N)
	return s
}
