package pipeline

import "math"

// maxHampel is the largest Hampel window.
const maxHampel = 31

// madScale turns a median absolute deviation into a standard deviation
// estimate for normally distributed noise.
const madScale = 1.4826

// hampel is a causal Hampel identifier over the last n raw samples.
type hampel struct {
	hist [maxHampel]float64
	n    int // samples held, up to the window
	pos  int // next slot to overwrite
}

// spike reports whether v is a spike against the samples seen so far, then
// remembers v (raw, so a real step passes after half a window).
func (h *hampel) spike(v float64, o *HampelOpts) bool {
	w := o.Window
	isSpike := false
	if h.n == w {
		var buf [maxHampel]float64
		copy(buf[:w], h.hist[:w])
		med := median(buf[:w])
		for i := range w {
			buf[i] = math.Abs(h.hist[i] - med)
		}
		mad := median(buf[:w])
		dev := math.Abs(v - med)
		isSpike = dev > o.MinDeviation && dev > o.Threshold*madScale*mad
	}
	h.hist[h.pos] = v
	h.pos = (h.pos + 1) % w
	if h.n < w {
		h.n++
	}
	return isSpike
}

// median sorts v in place (insertion sort: v is short) and returns its
// median; len(v) is odd.
func median(v []float64) float64 {
	for i := 1; i < len(v); i++ {
		x := v[i]
		j := i - 1
		for j >= 0 && v[j] > x {
			v[j+1] = v[j]
			j--
		}
		v[j+1] = x
	}
	return v[len(v)/2]
}
