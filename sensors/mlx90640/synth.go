package mlx90640

import "math"

// Synthesize is the inverse of Compute, for simulators: it writes into ram
// the words a chip with these parameters would hold after measuring subpage
// sp with control register ctrl, so that Compute(ram, emissivity, tr, ...)
// decodes to within quantisation of ta, vdd and, for the pixels of that
// subpage, the scene temperatures to (deg C; NaN pixels get the die
// temperature). It returns the Vdd and Ta that Compute will decode.
//
// What it writes: ram[IdxVdd] (Vdd from the resolution-corrected Vdd word),
// ram[IdxPTAT] and ram[IdxVbe] (a PTAT/Vbe pair, searched over realistic
// PTAT values, whose ratio gives ta best), ram[IdxGain], both compensation
// pixel words (chosen so the compensated CP signal is near zero), the 384
// pixel words of subpage sp (inverted through the ksTo ranges, offsets, Kta,
// Kv, TGC and the interleaved/chess correction), ram[IdxControl] = ctrl and
// ram[IdxSubpage] = sp. The other subpage's pixel words and the unused aux
// words are left as they were (zero is fine; 0x7FFF would be rejected).
//
// The gain word is chosen per call so the hottest pixel uses most of the
// signed 16-bit range: with a realistic gain word the raw words at 16-bit
// resolution are so coarse (about 1 K per count at room temperature) that a
// scene could not be reproduced to better than half a kelvin. Pixel words are
// rounded to the nearest count and clamped to -32768..32766 (never 0x7FFF),
// so scenes far outside -40..400 deg C may saturate. For a -20..400 deg C
// scene the decoded temperatures are within about 0.03 deg C (see
// TestSynthesizeRoundTrip for the measured bound). emissivity must be in
// (0, 1]; tr is the reflected temperature, NaN for Ta - TaShift.
// Synthesize does not allocate.
func (p *Params) Synthesize(sp int, ctrl uint16, ta, vdd, emissivity, tr float64, to *[Pixels]float64, ram *RawFrame) (gotVdd, gotTa float64) {
	f := &p.fast
	sp &= 1
	ram[IdxControl] = ctrl
	ram[IdxSubpage] = uint16(sp)

	// Vdd: the word is linear in Vdd.
	corr := pow2(int(p.ResolutionEE) - resolutionRAM(ctrl))
	ram[IdxVdd] = word(((vdd-3.3)*f.kVdd + f.vdd25) / corr)
	gotVdd = p.Vdd(ram)

	// Ta: PTAT/(PTAT*alphaPTAT + Vbe) fixes Ta; search PTAT for the pair
	// whose rounding error is smallest.
	art := ((ta-25)*f.ktPTAT + f.vPTAT25) * (1 + f.kvPTAT*(gotVdd-3.3))
	bestErr := math.Inf(1)
	var bestP, bestV uint16
	for ptat := 1500.0; ptat <= 1800; ptat++ {
		vbe := word(ptat*(1<<18)/art - ptat*f.alphaPTAT)
		ram[IdxPTAT], ram[IdxVbe] = uint16(int16(ptat)), vbe
		if e := math.Abs(p.ta(ram, gotVdd) - ta); e < bestErr {
			bestErr, bestP, bestV = e, ram[IdxPTAT], vbe
		}
	}
	ram[IdxPTAT], ram[IdxVbe] = bestP, bestV
	gotTa = p.ta(ram, gotVdd)
	if math.IsNaN(tr) {
		tr = gotTa - TaShift
	}
	dTa, dV := gotTa-25, gotVdd-3.3
	ta4 := math.Pow(gotTa+273.15, 4)
	tr4 := math.Pow(tr+273.15, 4)
	taTr := tr4 - (tr4-ta4)/emissivity
	ksTaCorr := 1 + f.ksTa*dTa
	k1c := 1 - f.ksTo[1]*273.15
	pt := PatternOf(ctrl)
	ilOn := uint8(pt)<<7 != p.CalibrationModeEE
	tbl := &f.tbl[pt][sp]

	// Pass 1: the IR signal each pixel needs, and the largest raw signal
	// (in units of gain 1) to size the gain word.
	var need [Pixels / 2]float64
	cpComp := (1 + f.cpKta*dTa) * (1 + f.cpKv*dV)
	cpOff := [2]float64{f.cpOff[0] * cpComp, f.cpOff[1] * cpComp}
	if ilOn {
		cpOff[1] = (f.cpOff[1] + f.il0) * cpComp
	}
	peak := max(math.Abs(cpOff[0]), math.Abs(cpOff[1]))
	for i := range tbl {
		px := &tbl[i]
		t := to[px.idx]
		if math.IsNaN(t) || math.IsInf(t, 0) {
			t = gotTa
		}
		ir := f.invert(t, px.alpha*ksTaCorr, taTr, k1c)
		x := ir*emissivity + px.off*(1+px.kta*dTa)*(1+px.kv*dV)
		if ilOn {
			x -= px.il
		}
		need[i] = x
		peak = max(peak, math.Abs(x))
	}
	// 32700 leaves room for the TGC term, a fraction of a count.
	gain := max(peak/32700, math.Abs(f.gainEE)/32700)
	ram[IdxGain] = word(f.gainEE / gain)
	gain = f.gainEE / float64(int16(ram[IdxGain]))
	ram[IdxCP0] = word(cpOff[0] / gain)
	ram[IdxCP1] = word(cpOff[1] / gain)
	cp := float64(int16(ram[IdxCP0]))*gain - cpOff[0]
	if sp == 1 {
		cp = float64(int16(ram[IdxCP1]))*gain - cpOff[1]
	}
	cpTerm := f.tgc * cp

	// Pass 2: pixel words, now that gain and the TGC term are known.
	for i := range tbl {
		ram[tbl[i].idx] = word((need[i] + cpTerm) / gain)
	}
	return gotVdd, gotTa
}

// word rounds v to a signed 16-bit RAM word, never the 0x7FFF marker.
func word(v float64) uint16 {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= 32766:
		return uint16(int16(32766))
	case v <= -32768:
		return uint16(0x8000)
	}
	return uint16(int16(math.Round(v)))
}

// invert returns the compensated IR signal (divided by the emissivity) that
// temperature decodes to t: a fixed-point iteration on the denominator,
// which depends on the signal only weakly through the ksTo slope.
func (f *fastParams) invert(t, a, taTr, k1c float64) float64 {
	tk := t + 273.15
	tk4 := tk * tk * tk * tk
	den := a * (1 + f.ksTo[1]*t)
	ir := (tk4 - taTr) * den
	for range 8 {
		got := f.temperature(ir, a, taTr, k1c)
		if math.IsNaN(got) {
			break
		}
		gk := got + 273.15
		if math.Abs(got-t) < 1e-9 {
			break
		}
		// d(ir)/d(T^4) is the current effective denominator.
		d := (gk*gk*gk*gk - taTr)
		if d != 0 && ir != 0 {
			den = ir / d
		}
		ir = (tk4 - taTr) * den
	}
	return ir
}
