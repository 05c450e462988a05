package camera

import (
	"math"
	"strings"
	"testing"

	"github.com/stirling-iot/stirling/sensors"
)

func roiStats(img *[sensors.Pixels]float64, r sensors.ROI) (mean, maxv float64) {
	maxv = math.Inf(-1)
	for row := r.Y; row < r.Y+r.H; row++ {
		for col := r.X; col < r.X+r.W; col++ {
			v := img[row*sensors.Width+col]
			mean += v
			maxv = max(maxv, v)
		}
	}
	return mean / float64(r.Area()), maxv
}

func TestRender(t *testing.T) {
	l := DefaultLayout()
	tests := []struct {
		name  string
		temps Temps
		flame float64 // wanted max of the flame rectangle
	}{
		{"running", DefaultTemps(), 320},
		{"half flame", Temps{Ambient: 20, Hot: 120, Cold: 30, Flame: 320, FlameOn: true, FlameIntensity: 0.5}, 170},
		{"flame out", Temps{Ambient: 20, Hot: 60, Cold: 25, Flame: 320, FlameOn: false, FlameIntensity: 1}, 0},
		{"cold start", Temps{Ambient: 18, Hot: 18, Cold: 18, Flame: 300}, 18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var img [sensors.Pixels]float64
			l.Render(tc.temps, &img)
			if m, _ := roiStats(&img, l.HotCylinder); math.Abs(m-tc.temps.Hot) > 1e-9 {
				t.Errorf("hot cylinder mean %.6f, want %g", m, tc.temps.Hot)
			}
			if m, _ := roiStats(&img, l.ColdCylinder); math.Abs(m-tc.temps.Cold) > 1e-9 {
				t.Errorf("cold cylinder mean %.6f, want %g", m, tc.temps.Cold)
			}
			_, fmax := roiStats(&img, l.Flame)
			switch {
			case tc.flame == 0: // flame out: only the hot cylinder's halo reaches it
				if fmax >= tc.temps.Hot {
					t.Errorf("flame rectangle max %.2f with the flame out, want below the hot cylinder %g", fmax, tc.temps.Hot)
				}
			case math.Abs(fmax-tc.flame) > 1e-9:
				t.Errorf("flame rectangle max %.6f, want %g", fmax, tc.flame)
			}
			if c := img[sensors.Pixels-1]; math.Abs(c-tc.temps.Ambient) > 0.01 {
				t.Errorf("bottom-right corner %.4f, want ambient %g", c, tc.temps.Ambient)
			}
			// Soft edges: the column right of the hot cylinder is between
			// ambient and the cylinder.
			r := l.HotCylinder
			edge := img[(r.Y+r.H/2)*sensors.Width+r.X+r.W]
			if tc.temps.Hot > tc.temps.Ambient && !(edge > tc.temps.Ambient+1 && edge < tc.temps.Hot) {
				t.Errorf("pixel beside the hot cylinder %.2f, want a blur between %g and %g", edge, tc.temps.Ambient, tc.temps.Hot)
			}
		})
	}
}

func TestLayoutValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Layout)
		want string // substring of the error; "" = valid
	}{
		{"default", func(*Layout) {}, ""},
		{"outside frame", func(l *Layout) { l.Flame.X = 30 }, "leaves the 32x24 frame"},
		{"cylinders overlap", func(l *Layout) { l.ColdCylinder = l.HotCylinder }, "overlap"},
		{"negative blur", func(l *Layout) { l.Blur = -1 }, "blur"},
		{"gradient", func(l *Layout) { l.Gradient = 2 }, "gradient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLayout()
			tc.edit(&l)
			err := l.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
