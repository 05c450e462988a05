package calibrate

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stirling-iot/stirling/sensors"
)

// scene describes a synthetic engine image.
type scene struct {
	ambient    float64
	hot, cold  sensors.ROI // true cylinder positions
	hotT       float64
	coldT      float64
	flameX     float64 // flame centre, pixels
	flameY     float64
	flameT     float64 // flame peak
	flameSigma float64
	invalid    []int // pixels not computed
	mirror     bool  // flip left-right
}

// render draws the scene, blurs it with a 3x3 box (camera optics) and adds
// deterministic noise of about ±0.3 K.
func (s scene) render() *sensors.Frame {
	var raw [sensors.Pixels]float64
	for i := range raw {
		x, y := i%sensors.Width, i/sensors.Width
		v := s.ambient
		switch {
		case s.hot.Contains(x, y):
			v = s.hotT
		case s.cold.Contains(x, y):
			v = s.coldT
		}
		dx, dy := float64(x)-s.flameX, float64(y)-s.flameY
		if s.flameT > 0 {
			v = math.Max(v, s.ambient+(s.flameT-s.ambient)*math.Exp(-(dx*dx+dy*dy)/(2*s.flameSigma*s.flameSigma)))
		}
		raw[i] = v
	}
	f := &sensors.Frame{Seq: 1}
	for i := range f.To {
		x, y := i%sensors.Width, i/sensors.Width
		var sum float64
		var n int
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				nx, ny := x+dx, y+dy
				if nx >= 0 && ny >= 0 && nx < sensors.Width && ny < sensors.Height {
					w := 1.0
					if dx == 0 && dy == 0 {
						w = 4
					}
					sum += w * raw[ny*sensors.Width+nx]
					n += int(w)
				}
			}
		}
		noise := 0.3 * math.Sin(float64(i)*12.9898)
		dst := i
		if s.mirror {
			dst = y*sensors.Width + sensors.Width - 1 - x
		}
		f.To[dst] = sum/float64(n) + noise
		f.Valid[dst] = true
	}
	for _, i := range s.invalid {
		f.Valid[i] = false
		f.To[i] = 0
	}
	return f
}

func mirrorROI(r sensors.ROI) sensors.ROI {
	r.X = sensors.Width - r.X - r.W
	return r
}

// iou is the intersection over union of two boxes.
func iou(a, b sensors.ROI) float64 {
	x0, y0 := max(a.X, b.X), max(a.Y, b.Y)
	x1, y1 := min(a.X+a.W, b.X+b.W), min(a.Y+a.H, b.Y+b.H)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	in := float64((x1 - x0) * (y1 - y0))
	return in / (float64(a.Area()+b.Area()) - in)
}

func benchScene() scene {
	return scene{
		ambient: 22,
		hot:     sensors.ROI{X: 9, Y: 4, W: 7, H: 9}, hotT: 140,
		cold: sensors.ROI{X: 20, Y: 5, W: 7, H: 8}, coldT: 45,
		flameX: 12.5, flameY: 17, flameT: 320, flameSigma: 1.2,
	}
}

func TestSuggest(t *testing.T) {
	base := benchScene()
	cool := base
	cool.hotT, cool.coldT, cool.flameT = 80, 32, 180
	mirrored := base
	mirrored.mirror = true
	holes := base
	for i := 0; i < sensors.Pixels; i += 13 {
		holes.invalid = append(holes.invalid, i)
	}
	tall := base
	tall.hot = sensors.ROI{X: 8, Y: 1, W: 8, H: 13}
	tall.cold = sensors.ROI{X: 22, Y: 2, W: 6, H: 12}
	tests := []struct {
		name string
		s    scene
	}{
		{"bench", base},
		{"warming up", cool},
		{"mirrored", mirrored},
		{"missing pixels", holes},
		{"tall cylinders", tall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.s.render()
			got, err := Suggest(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("invalid suggestion %+v: %v", got, err)
			}
			hot, cold := tc.s.hot, tc.s.cold
			fx, fy := int(tc.s.flameX), int(tc.s.flameY)
			if tc.s.mirror {
				hot, cold, fx = mirrorROI(hot), mirrorROI(cold), sensors.Width-1-fx
			}
			if !got.Flame.Contains(fx, fy) || got.Flame.Area() > 25 {
				t.Errorf("flame %s: want a small box around (%d,%d)", got.Flame, fx, fy)
			}
			if v := iou(got.HotCylinder, hot); v < 0.6 {
				t.Errorf("hot cylinder %s vs true %s: IoU %.2f < 0.6", got.HotCylinder, hot, v)
			}
			if v := iou(got.ColdCylinder, cold); v < 0.6 {
				t.Errorf("cold cylinder %s vs true %s: IoU %.2f < 0.6", got.ColdCylinder, cold, v)
			}
			t.Logf("flame %s hot %s cold %s", got.Flame, got.HotCylinder, got.ColdCylinder)
		})
	}
}

func TestSuggestRefuses(t *testing.T) {
	uniform := scene{ambient: 22}
	flameOnly := scene{ambient: 22, flameX: 10, flameY: 12, flameT: 300, flameSigma: 1}
	noCold := benchScene()
	noCold.coldT = 22
	sparse := benchScene()
	for i := 0; i < sensors.Pixels; i += 2 {
		sparse.invalid = append(sparse.invalid, i, i+1)
	}
	tests := []struct {
		name string
		f    *sensors.Frame
	}{
		{"uniform", uniform.render()},
		{"flame only", flameOnly.render()},
		{"no cold cylinder", noCold.render()},
		{"no valid pixels", sparse.render()},
		{"empty frame", &sensors.Frame{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Suggest(tc.f)
			if !errors.Is(err, ErrNoSuggestion) {
				t.Fatalf("got %+v, %v; want ErrNoSuggestion", r, err)
			}
			t.Log(err)
		})
	}
}

func TestRegionStats(t *testing.T) {
	f := &sensors.Frame{}
	for i := range f.To {
		f.To[i] = float64(i % sensors.Width)
		f.Valid[i] = true
	}
	f.Valid[1*sensors.Width+3] = false
	tests := []struct {
		name string
		r    sensors.ROI
		want Stats
	}{
		{"block", sensors.ROI{X: 2, Y: 0, W: 3, H: 2}, Stats{N: 5, Mean: 3, Min: 2, Max: 4}},
		{"one pixel", sensors.ROI{X: 31, Y: 23, W: 1, H: 1}, Stats{N: 1, Mean: 31, Min: 31, Max: 31}},
		{"clipped", sensors.ROI{X: 30, Y: 22, W: 5, H: 5}, Stats{N: 4, Mean: 30.5, Min: 30, Max: 31}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RegionStats(f, tc.r)
			if got.N != tc.want.N || math.Abs(got.Mean-tc.want.Mean) > 1e-9 || got.Min != tc.want.Min || got.Max != tc.want.Max {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if s := RegionStats(f, sensors.ROI{X: 3, Y: 1, W: 1, H: 1}); s.N != 0 || !math.IsNaN(s.Mean) {
		t.Fatalf("no valid pixels: %+v", s)
	}
}

func BenchmarkSuggest(b *testing.B) {
	f := benchScene().render()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Suggest(f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRender(t *testing.T) {
	f := benchScene().render()
	f.Valid[3] = false
	var png, term strings.Builder
	if err := WritePNG(&png, f, goodROIs()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(png.String(), "\x89PNG") {
		t.Fatal("not a PNG")
	}
	if err := WriteTerminal(&term, f, goodROIs()); err != nil {
		t.Fatal(err)
	}
	out := term.String()
	for _, want := range []string{"\x1b[48;2;", "hot_cylinder: x=9 y=4 w=7 h=9", "flame          mean"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q", want)
		}
	}
}

// TestSuggestWhileWarmingUp sweeps the engine from cold to warm: at every
// step Suggest either refuses or places the cylinders where they are; it
// never returns a wrong box.
func TestSuggestWhileWarmingUp(t *testing.T) {
	placed := 0
	for step := 0; step <= 20; step++ {
		s := benchScene()
		s.hotT = 22 + float64(step)*6    // 22 .. 142
		s.coldT = 22 + float64(step)*1.2 // 22 .. 46
		s.flameT = 400
		got, err := Suggest(s.render())
		if err != nil {
			if !errors.Is(err, ErrNoSuggestion) {
				t.Fatalf("step %d: %v", step, err)
			}
			continue
		}
		placed++
		if v := iou(got.HotCylinder, s.hot); v < 0.5 {
			t.Errorf("step %d (hot %.0f, cold %.1f): hot cylinder %s vs %s, IoU %.2f", step, s.hotT, s.coldT, got.HotCylinder, s.hot, v)
		}
		if v := iou(got.ColdCylinder, s.cold); v < 0.5 {
			t.Errorf("step %d (hot %.0f, cold %.1f): cold cylinder %s vs %s, IoU %.2f", step, s.hotT, s.coldT, got.ColdCylinder, s.cold, v)
		}
	}
	if placed < 10 {
		t.Fatalf("placed regions in only %d of 21 steps", placed)
	}
	t.Logf("placed in %d of 21 steps", placed)
}
