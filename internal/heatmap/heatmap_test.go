package heatmap

import (
	"bytes"
	"errors"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stirling-iot/stirling/sensors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// scene is a gradient with a hot spot and one missing pixel.
func scene() []float64 {
	to := make([]float64, sensors.Pixels)
	for k := range to {
		x, y := float64(k%sensors.Width), float64(k/sensors.Width)
		to[k] = 20 + x + 0.5*y
		if dx, dy := x-8, y-12; dx*dx+dy*dy < 9 {
			to[k] = 250
		}
	}
	to[5] = math.NaN()
	return to
}

func rois() []ROI {
	return []ROI{
		{Label: "hot", ROI: sensors.ROI{X: 5, Y: 9, W: 7, H: 7}},
		{Label: "cold", ROI: sensors.ROI{X: 22, Y: 4, W: 6, H: 10}},
	}
}

func TestRampMonotonic(t *testing.T) {
	r := Ramp()
	if r[0].Pos != 0 || r[len(r)-1].Pos != 1 {
		t.Fatalf("ramp spans %v..%v", r[0].Pos, r[len(r)-1].Pos)
	}
	prev := -1.0
	for i := range 1001 {
		l := lum(Color(float64(i) / 1000))
		if l < prev-0.6 { // rounding to 8 bits may wobble by a fraction
			t.Fatalf("luminance falls at %v: %v after %v", float64(i)/1000, l, prev)
		}
		prev = max(prev, l)
	}
	if lum(Color(1))-lum(Color(0)) < 200 {
		t.Fatal("ramp has too little contrast")
	}
	if Color(math.NaN()) != noData || Color(-5) != Color(0) || Color(7) != Color(1) {
		t.Fatal("NaN or clamping wrong")
	}
}

func TestPNG(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Opts
		wantW int
	}{
		{"auto scale", Opts{Min: math.NaN(), Max: math.NaN(), ROIs: rois()}, 0},
		{"fixed scale 4", Opts{Scale: 4, Min: 0, Max: 300}, 0},
		{"default scale", Opts{Min: math.NaN(), Max: math.NaN()}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			to := scene()
			if err := PNG(&buf, to, tc.opts); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			s := tc.opts.Scale
			if s == 0 {
				s = 12
			}
			b := img.Bounds()
			if b.Dy() != 24*s || b.Dx() <= 32*s {
				t.Fatalf("size %v for scale %d", b, s)
			}
			// Pixel centres: colours follow temperature (brighter = hotter),
			// the NaN pixel is grey.
			at := func(k int) float64 {
				r, g, bl, _ := img.At((k%32)*s+s/2, (k/32)*s+s/2).RGBA()
				return 0.299*float64(r>>8) + 0.587*float64(g>>8) + 0.114*float64(bl>>8)
			}
			if r, g, bl, _ := img.At(5*s+s/2, s/2).RGBA(); r>>8 != 128 || g>>8 != 128 || bl>>8 != 128 {
				t.Fatalf("NaN pixel not grey: %d %d %d", r>>8, g>>8, bl>>8)
			}
			cold, warm, hot := at(32*23+0), at(32*2+31), at(32*12+8)
			if !(cold < warm && warm < hot) {
				t.Fatalf("luminance not increasing with temperature: %v %v %v", cold, warm, hot)
			}
			distinct := map[uint32]bool{}
			for y := 0; y < b.Dy(); y += 3 {
				for x := 0; x < b.Dx(); x += 3 {
					r, g, bl, _ := img.At(x, y).RGBA()
					distinct[r>>8<<16|g>>8<<8|bl>>8] = true
				}
			}
			if len(distinct) < 20 {
				t.Fatalf("image looks blank: %d colours", len(distinct))
			}
		})
	}
}

func TestErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := PNG(&buf, make([]float64, 10), Opts{}); !errors.Is(err, ErrSize) {
		t.Fatalf("PNG: %v", err)
	}
	if err := ANSI(&buf, nil); !errors.Is(err, ErrSize) {
		t.Fatalf("ANSI: %v", err)
	}
	all := make([]float64, sensors.Pixels)
	for i := range all {
		all[i] = math.NaN()
	}
	if err := PNG(&buf, all, Opts{Min: math.NaN(), Max: math.NaN()}); err != nil {
		t.Fatalf("all-NaN image: %v", err)
	}
}

func TestANSIGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := ANSI(&buf, scene(), rois()...); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "scene.ansi")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("ANSI output differs from %s (run go test -update after checking it with cat)", golden)
	}
}
