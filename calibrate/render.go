package calibrate

import (
	"fmt"
	"io"
	"math"

	"github.com/stirling-iot/stirling/internal/heatmap"
	"github.com/stirling-iot/stirling/sensors"
)

// temps returns the frame's temperatures with NaN where a pixel is not valid.
func temps(f *sensors.Frame) []float64 {
	to := make([]float64, sensors.Pixels)
	for i := range to {
		to[i] = f.To[i]
		if !f.Valid[i] {
			to[i] = math.NaN()
		}
	}
	return to
}

func labelled(r sensors.ROIs) []heatmap.ROI {
	var out []heatmap.ROI
	for _, n := range r.Named() {
		out = append(out, heatmap.ROI{Label: n.Name, ROI: n.ROI})
	}
	return out
}

// WritePNG writes f as a PNG heat map with the regions drawn and a colour scale.
func WritePNG(w io.Writer, f *sensors.Frame, r sensors.ROIs) error {
	if err := heatmap.PNG(w, temps(f), heatmap.Opts{Min: math.NaN(), Max: math.NaN(), ROIs: labelled(r)}); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	return nil
}

// WriteTerminal writes f as an ANSI 24-bit colour heat map with the regions
// outlined, followed by each region's statistics.
func WriteTerminal(w io.Writer, f *sensors.Frame, r sensors.ROIs) error {
	if err := heatmap.ANSI(w, temps(f), labelled(r)...); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	for _, n := range r.Named() {
		s := RegionStats(f, n.ROI)
		if _, err := fmt.Fprintf(w, "%-14s mean %6.1f °C  min %6.1f  max %6.1f  (%d px)\n", n.Name, s.Mean, s.Min, s.Max, s.N); err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
	}
	return nil
}
