package mlx90640

import "math"

// CorrectBadPixels replaces the broken and then the outlier pixels of to with
// an interpolation of their neighbours, as MLX90640_BadPixelsCorrection does
// when called with p.BrokenPixels and then p.OutlierPixels and the frame's
// pattern. In chess mode the neighbours are the four diagonal ones (their
// median, or the mean or copy at the edges); in interleaved mode they are in
// the same row, extrapolated from the flatter side. The neighbours of a pixel
// are always in its own subpage, so a bad pixel can be corrected as soon as
// its subpage has been computed.
//
// A full broken list (five entries, which comes with StatusBrokenPixels)
// runs on into the outlier list, as the C library's loop does over the
// struct.
func (p *Params) CorrectBadPixels(to *[Pixels]float64, pt Pattern) {
	var broken [10]uint16
	copy(broken[:5], p.BrokenPixels[:])
	copy(broken[5:], p.OutlierPixels[:])
	p.CorrectPixels(broken[:], to, pt)
	p.CorrectPixels(p.OutlierPixels[:], to, pt)
}

// CorrectPixels corrects the listed pixels of to in order (the list ends at
// its end or at the first NoPixel), like MLX90640_BadPixelsCorrection with a
// custom list. Entries outside the frame are ignored.
func (p *Params) CorrectPixels(list []uint16, to *[Pixels]float64, pt Pattern) {
	for _, k := range list {
		if k == NoPixel {
			return
		}
		if int(k) < Pixels {
			to[k] = p.interpolate(int(k), to, pt)
		}
	}
}

// correctSubpage corrects the bad pixels of one subpage only.
func (p *Params) correctSubpage(to *[Pixels]float64, pt Pattern, sp int) {
	for _, list := range [2]*[5]uint16{&p.BrokenPixels, &p.OutlierPixels} {
		for _, k := range list {
			if k == NoPixel {
				break
			}
			if int(k) < Pixels && InSubpage(pt, sp, int(k)) {
				to[k] = p.interpolate(int(k), to, pt)
			}
		}
	}
}

func (p *Params) isBad(k int) bool {
	for i := range 5 {
		if int(p.BrokenPixels[i]) == k || int(p.OutlierPixels[i]) == k {
			return true
		}
	}
	return false
}

func (p *Params) interpolate(k int, to *[Pixels]float64, pt Pattern) float64 {
	row, col := k/Cols, k%Cols
	mean := func(a, b int) float64 { return (to[a] + to[b]) / 2 }
	if pt == Chess {
		switch {
		case row == 0 && col == 0:
			return to[33]
		case row == 0 && col == Cols-1:
			return to[62]
		case row == 0:
			return mean(k+31, k+33)
		case row == Rows-1 && col == 0:
			return to[705]
		case row == Rows-1 && col == Cols-1:
			return to[734]
		case row == Rows-1:
			return mean(k-33, k-31)
		case col == 0:
			return mean(k-31, k+33)
		case col == Cols-1:
			return mean(k-33, k+31)
		}
		return median4(to[k-33], to[k-31], to[k+31], to[k+33])
	}
	switch {
	case col == 0:
		return to[k+1]
	case col == 1 || col == Cols-2:
		return mean(k-1, k+1)
	case col == Cols-1:
		return to[k-1]
	case p.isBad(k-2) || p.isBad(k+2):
		return mean(k-1, k+1)
	}
	right := to[k+1] - to[k+2]
	left := to[k-1] - to[k-2]
	if math.Abs(right) > math.Abs(left) {
		return to[k-1] + left
	}
	return to[k+1] + right
}

// median4 is the mean of the middle two of four values, sorted the way the
// library's GetMedian sorts them.
func median4(a, b, c, d float64) float64 {
	v := [4]float64{a, b, c, d}
	for i := range 3 {
		for j := i + 1; j < 4; j++ {
			if v[j] < v[i] {
				v[i], v[j] = v[j], v[i]
			}
		}
	}
	return (v[1] + v[2]) / 2
}
