// Package heatmap renders a 32x24 thermal image as a PNG with a colour
// scale, or as 24-bit colour blocks for a terminal, with labelled regions of
// interest. thermal decode, the calibration page and the status page share
// it, and the web pages use the same colour ramp (Ramp) in JavaScript.
package heatmap

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"

	"github.com/stirling-iot/stirling/sensors"
)

// Stop is one control point of the colour ramp: Pos in [0, 1] along the
// scale (0 = coldest) and its colour. Colours between stops are linear in RGB.
type Stop struct {
	Pos     float64 `json:"pos"`
	R, G, B uint8
}

// Ramp returns the colour ramp, cold to hot: near-black through purple, red
// and orange to pale yellow, with luminance rising monotonically so the
// image reads correctly in grey too. The result is a fresh copy.
func Ramp() []Stop {
	return []Stop{
		{0.000, 0, 0, 4},
		{0.125, 31, 12, 72},
		{0.250, 85, 15, 109},
		{0.375, 136, 34, 106},
		{0.500, 186, 54, 85},
		{0.625, 227, 89, 51},
		{0.750, 249, 140, 10},
		{0.875, 249, 201, 50},
		{1.000, 252, 255, 164},
	}
}

// NoData is the colour of pixels without a value (NaN).
var noData = color.RGBA{128, 128, 128, 255}

// Color maps x in [0, 1] (clamped; NaN is grey) onto the ramp.
func Color(x float64) color.RGBA {
	if math.IsNaN(x) {
		return noData
	}
	x = min(max(x, 0), 1)
	r := Ramp()
	for i := 1; i < len(r); i++ {
		if x <= r[i].Pos {
			a, b := r[i-1], r[i]
			f := (x - a.Pos) / (b.Pos - a.Pos)
			mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
			return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
		}
	}
	last := r[len(r)-1]
	return color.RGBA{last.R, last.G, last.B, 255}
}

// ROI is a labelled rectangle drawn over the image.
type ROI struct {
	Label string
	sensors.ROI
}

// Opts controls PNG.
type Opts struct {
	Scale    int     // screen pixels per sensor pixel; 0 means 12
	Min, Max float64 // colour scale in deg C; NaN means the image's own min/max
	ROIs     []ROI
}

// ErrSize is returned for an image that is not 32x24 values.
var ErrSize = errors.New("heatmap: want 768 values (32x24)")

// Range returns the finite min and max of to, or 0 and 1 when there is none;
// max is at least min + 0.1.
func Range(to []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range to {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo > hi {
		return 0, 1
	}
	return lo, max(hi, lo+0.1)
}

func scaleOf(to []float64, lo, hi float64) (float64, float64) {
	alo, ahi := Range(to)
	if math.IsNaN(lo) {
		lo = alo
	}
	if math.IsNaN(hi) {
		hi = ahi
	}
	if hi <= lo {
		hi = lo + 0.1
	}
	return lo, hi
}

// PNG writes the image: the 32x24 pixels (Scale times larger), the ROIs as
// white boxes with their labels, and on the right a colour bar with the
// scale's max at the top and min at the bottom in deg C.
func PNG(w io.Writer, to []float64, opts Opts) error {
	if len(to) != sensors.Pixels {
		return fmt.Errorf("%w, got %d", ErrSize, len(to))
	}
	s := opts.Scale
	if s <= 0 {
		s = 12
	}
	lo, hi := scaleOf(to, opts.Min, opts.Max)
	fs := max(1, s/6) // font scale
	maxLbl, minLbl := fmt.Sprintf("%.1fC", hi), fmt.Sprintf("%.1fC", lo)
	lblW := max(textWidth(maxLbl), textWidth(minLbl)) * fs
	barX := sensors.Width*s + 3*fs
	barW := 4 * fs
	width := barX + barW + 2*fs + lblW + 2*fs
	height := max(sensors.Height*s, 4*glyphH*fs)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	bg := color.RGBA{24, 24, 24, 255}
	fill(img, img.Rect, bg)
	for k, v := range to {
		c := Color((v - lo) / (hi - lo))
		x, y := (k%sensors.Width)*s, (k/sensors.Width)*s
		fill(img, image.Rect(x, y, x+s, y+s), c)
	}
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{0, 0, 0, 255}
	for _, r := range opts.ROIs {
		rect := image.Rect(r.X*s, r.Y*s, (r.X+r.W)*s, (r.Y+r.H)*s)
		t := max(1, s/8)
		fill(img, image.Rect(rect.Min.X, rect.Min.Y, rect.Max.X, rect.Min.Y+t), white)
		fill(img, image.Rect(rect.Min.X, rect.Max.Y-t, rect.Max.X, rect.Max.Y), white)
		fill(img, image.Rect(rect.Min.X, rect.Min.Y, rect.Min.X+t, rect.Max.Y), white)
		fill(img, image.Rect(rect.Max.X-t, rect.Min.Y, rect.Max.X, rect.Max.Y), white)
		tx, ty := rect.Min.X+t+fs, rect.Min.Y+t+fs
		drawText(img, tx+fs, ty+fs, r.Label, fs, black) // shadow
		drawText(img, tx, ty, r.Label, fs, white)
	}
	barH := sensors.Height * s
	for y := range barH {
		c := Color(1 - float64(y)/float64(barH-1))
		fill(img, image.Rect(barX, y, barX+barW, y+1), c)
	}
	lx := barX + barW + 2*fs
	drawText(img, lx, 0, maxLbl, fs, white)
	drawText(img, lx, barH-glyphH*fs, minLbl, fs, white)
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("heatmap: encode PNG: %w", err)
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// ANSI writes the image as 24-bit colour blocks, two characters per pixel,
// one line per row. Each ROI is outlined with dots and its label's first two
// letters mark its top-left pixel; a scale bar with min and max and a legend
// of the ROIs follow the image. The scale is the image's own min/max.
func ANSI(w io.Writer, to []float64, rois ...ROI) error {
	if len(to) != sensors.Pixels {
		return fmt.Errorf("%w, got %d", ErrSize, len(to))
	}
	lo, hi := Range(to)
	var b strings.Builder
	for row := range sensors.Height {
		for col := range sensors.Width {
			c := Color((to[row*sensors.Width+col] - lo) / (hi - lo))
			cell := "  "
			for _, r := range rois {
				if !r.Contains(col, row) {
					continue
				}
				if col == r.X && row == r.Y {
					lbl := strings.ToUpper(r.Label) + "  "
					cell = lbl[:2]
					break
				}
				if col == r.X || col == r.X+r.W-1 || row == r.Y || row == r.Y+r.H-1 {
					cell = "::"
				}
			}
			fg := "255;255;255"
			if lum(c) > 140 {
				fg = "0;0;0"
			}
			fmt.Fprintf(&b, "\x1b[48;2;%d;%d;%dm\x1b[38;2;%sm%s", c.R, c.G, c.B, fg, cell)
		}
		b.WriteString("\x1b[0m\n")
	}
	fmt.Fprintf(&b, "%.1fC ", lo)
	for i := range 16 {
		c := Color(float64(i) / 15)
		fmt.Fprintf(&b, "\x1b[48;2;%d;%d;%dm  ", c.R, c.G, c.B)
	}
	fmt.Fprintf(&b, "\x1b[0m %.1fC\n", hi)
	for _, r := range rois {
		fmt.Fprintf(&b, "%s: x=%d y=%d w=%d h=%d\n", r.Label, r.X, r.Y, r.W, r.H)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("heatmap: write: %w", err)
	}
	return nil
}

// lum is the perceived brightness of c, 0..255 (Rec. 601 weights).
func lum(c color.RGBA) float64 {
	return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
}
