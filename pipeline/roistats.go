package pipeline

import (
	"math"

	"github.com/stirling-iot/stirling/sensors"
)

// ROIStats are the statistics of one region of one frame.
type ROIStats struct {
	Mean, Min, Max float64
	// P90 is the 90th percentile (nearest rank): robust against a few hot
	// pixels, and closer to "the flame" than the mean of a region that is
	// partly background.
	P90 float64
	// N is the number of pixels used: inside the region, computed (Valid),
	// not marked broken in the EEPROM (Bad), finite, and at most
	// MaxPixelAge older than the frame.
	N int
	// Quality is GOOD when every pixel that is not broken was used,
	// UNCERTAIN when some were stale or not yet computed but at least
	// MinValid of the region was usable, BAD otherwise (then the numbers
	// are 0 when N is 0 and must not be trusted in any case).
	Quality Quality
}

// RegionStats computes the statistics of region r of frame f. It does not
// allocate and does not keep f.
func RegionStats(f *sensors.Frame, r sensors.ROI, o ROIOpts) ROIStats {
	var vals [sensors.Pixels]float64
	var st ROIStats
	if r.Validate() != nil {
		st.Quality = Bad
		return st
	}
	eligible := 0
	sum := 0.0
	cutoff := f.Time.Add(-o.MaxPixelAge).UnixNano()
	st.Min, st.Max = math.Inf(1), math.Inf(-1)
	for row := r.Y; row < r.Y+r.H; row++ {
		for col := r.X; col < r.X+r.W; col++ {
			i := row*sensors.Width + col
			if f.Bad[i] {
				continue
			}
			eligible++
			v := f.To[i]
			if !f.Valid[i] || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if u := &f.Updated[i]; u.IsZero() || u.UnixNano() < cutoff {
				continue
			}
			vals[st.N] = v
			st.N++
			sum += v
			if v < st.Min {
				st.Min = v
			}
			if v > st.Max {
				st.Max = v
			}
		}
	}
	switch {
	case st.N == 0:
		return ROIStats{Quality: Bad}
	case float64(st.N) < o.MinValid*float64(r.Area()):
		st.Quality = Bad
	case st.N < eligible:
		st.Quality = Uncertain
	}
	st.Mean = sum / float64(st.N)
	k := int(math.Ceil(0.9*float64(st.N))) - 1
	st.P90 = selectK(vals[:st.N], k)
	return st
}

// selectK returns the k-th smallest element (0-based) of v, reordering v
// (Hoare's quickselect with a median-of-three pivot).
func selectK(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}
