package mlx90640

import (
	"fmt"
	"math"
)

// RawFrame is one subpage as the Melexis library lays it out: [0..767] pixel
// RAM 0x0400..0x06FF (pixel = row*32+col), [768..831] aux RAM 0x0700..0x073F,
// [832] the control register 0x800D, [833] the subpage number (status bit 0).
type RawFrame [FrameSize]uint16

// Indexes of the aux words in a RawFrame.
const (
	IdxVbe     = 768 // Ta_Vbe
	IdxCP0     = 776 // compensation pixel, subpage 0
	IdxGain    = 778 // gain reference
	IdxPTAT    = 800 // Ta_PTAT
	IdxCP1     = 808 // compensation pixel, subpage 1
	IdxVdd     = 810 // Vdd_pix
	IdxControl = 832 // control register copy
	IdxSubpage = 833 // subpage number
)

// Control returns the control register copy.
func (r *RawFrame) Control() uint16 { return r[IdxControl] }

// Subpage returns the subpage number, 0 or 1.
func (r *RawFrame) Subpage() int { return int(r[IdxSubpage] & 1) }

// Pattern returns the reading pattern from the control register copy.
func (r *RawFrame) Pattern() Pattern { return PatternOf(r[IdxControl]) }

// Validate reports a frame the library would reject or index out of range:
// a subpage number other than 0 or 1, and the 0x7FFF marker the chip leaves
// in RAM words that were not measured (the same words the Melexis library
// checks: the first pixel of each row of the subpage and the used aux words).
func (r *RawFrame) Validate() error {
	sp := r[IdxSubpage]
	if sp > 1 {
		return fmt.Errorf("%w: subpage number %d", ErrCorruptFrame, sp)
	}
	for row := range Rows {
		if row&1 == int(sp) && r[row*Cols] == 0x7FFF {
			return fmt.Errorf("%w: pixel %d is 0x7FFF", ErrCorruptFrame, row*Cols)
		}
	}
	for i := range 64 {
		switch {
		case i >= 1 && i < 8, i == 19, i == 23, i >= 33 && i < 40, i == 51, i == 55:
			continue // words the library does not use
		}
		if r[Pixels+i] == 0x7FFF {
			return fmt.Errorf("%w: aux word 0x%04X is 0x7FFF", ErrCorruptFrame, AuxAddr+i)
		}
	}
	return nil
}

// Pattern is the order in which the chip measures the two subpages.
type Pattern uint8

// Reading patterns (control register bit 12).
const (
	Interleaved Pattern = 0 // subpage = row parity
	Chess       Pattern = 1 // subpage = (row + column) parity; the factory default
)

func (p Pattern) String() string {
	if p == Chess {
		return "chess"
	}
	return "interleaved"
}

// PatternOf decodes the pattern bit of a control register value.
func PatternOf(ctrl uint16) Pattern { return Pattern(ctrl>>12) & 1 }

// InSubpage reports whether pixel k is measured in subpage sp with pattern pt.
func InSubpage(pt Pattern, sp, k int) bool {
	row, col := k/Cols, k%Cols
	if pt == Chess {
		return (row^col)&1 == sp
	}
	return row&1 == sp
}

// resolutionRAM is the ADC resolution code (0 = 16 bit .. 3 = 19 bit) of a
// control register value.
func resolutionRAM(ctrl uint16) int { return int(ctrl>>10) & 3 }

// pixConst is what Compute needs of one pixel, precomputed once.
type pixConst struct {
	off   float64 // offset
	kta   float64 // Kta
	kv    float64 // Kv
	alpha float64 // 1e-6 * 2^alphaScale / alpha[i], the re-quantised sensitivity
	il    float64 // interleaved-vs-chess correction, added when the pattern differs from the calibration
	idx   int
}

// fastParams holds the per-pixel constants for each (pattern, subpage),
// in pixel order, and the scalar constants in float64.
type fastParams struct {
	tbl        [2][2][Pixels / 2]pixConst
	vdd25      float64
	kVdd       float64
	kvPTAT     float64
	ktPTAT     float64
	vPTAT25    float64
	alphaPTAT  float64
	gainEE     float64
	tgc        float64
	cpKv       float64
	cpKta      float64
	ksTa       float64
	ksTo       [4]float64
	ct         [4]float64
	alphaCorrR [4]float64
	cpOff      [2]float64
	il0        float64
	bad        [Pixels]bool // broken or outlier
}

func (p *Params) precompute() {
	f := &p.fast
	ktaScale := pow2(int(p.KtaScale))
	kvScale := pow2(int(p.KvScale))
	alphaScale := pow2(int(p.AlphaScale))
	var n [2][2]int
	for k := range Pixels {
		row, col := k/Cols, k%Cols
		il := row & 1
		// conversionPattern of the library: -1 and +1 on columns 1 and 3
		// of each group of four, sign flipped on odd rows.
		conv := 0
		switch k % 4 {
		case 1:
			conv = -1
		case 3:
			conv = 1
		}
		conv *= 1 - 2*il
		c := pixConst{
			off:   float64(p.Offset[k]),
			kta:   float64(p.Kta[k]) / ktaScale,
			kv:    float64(p.Kv[k]) / kvScale,
			alpha: 1e-6 * alphaScale / float64(p.Alpha[k]),
			il:    float64(p.ILChessC[2])*float64(2*il-1) - float64(p.ILChessC[1])*float64(conv),
			idx:   k,
		}
		for pt := range 2 {
			sp := il
			if pt == int(Chess) {
				sp = (row ^ col) & 1
			}
			f.tbl[pt][sp][n[pt][sp]] = c
			n[pt][sp]++
		}
	}
	f.vdd25 = float64(p.Vdd25)
	f.kVdd = float64(p.KVdd)
	f.kvPTAT = float64(p.KvPTAT)
	f.ktPTAT = float64(p.KtPTAT)
	f.vPTAT25 = float64(p.VPTAT25)
	f.alphaPTAT = float64(p.AlphaPTAT)
	f.gainEE = float64(p.GainEE)
	f.tgc = float64(p.TGC)
	f.cpKv = float64(p.CpKv)
	f.cpKta = float64(p.CpKta)
	f.ksTa = float64(p.KsTa)
	for i := range 4 {
		f.ksTo[i] = float64(p.KsTo[i])
		f.ct[i] = float64(p.CT[i])
	}
	// The current Melexis algorithm: continuous at every range boundary.
	f.alphaCorrR[0] = 1 / (1 + f.ksTo[0]*40)
	f.alphaCorrR[1] = 1
	f.alphaCorrR[2] = 1 + f.ksTo[1]*f.ct[2]
	f.alphaCorrR[3] = f.alphaCorrR[2] * (1 + f.ksTo[2]*(f.ct[3]-f.ct[2]))
	f.cpOff = [2]float64{float64(p.CpOffset[0]), float64(p.CpOffset[1])}
	f.il0 = float64(p.ILChessC[0])
	for k := range Pixels {
		f.bad[k] = p.isBad(k)
	}
}

// Vdd returns the supply voltage of a frame, V.
func (p *Params) Vdd(r *RawFrame) float64 {
	f := &p.fast
	corr := pow2(int(p.ResolutionEE) - resolutionRAM(r[IdxControl]))
	return (corr*float64(int16(r[IdxVdd]))-f.vdd25)/f.kVdd + 3.3
}

// Ta returns the die (ambient) temperature of a frame, deg C.
func (p *Params) Ta(r *RawFrame) float64 { return p.ta(r, p.Vdd(r)) }

func (p *Params) ta(r *RawFrame, vdd float64) float64 {
	f := &p.fast
	ptat := float64(int16(r[IdxPTAT]))
	art := ptat / (ptat*f.alphaPTAT + float64(int16(r[IdxVbe]))) * (1 << 18)
	return (art/(1+f.kvPTAT*(vdd-3.3))-f.vPTAT25)/f.ktPTAT + 25
}

// frameConsts are the per-subpage quantities shared by every pixel.
type frameConsts struct {
	vdd, ta  float64
	dTa, dV  float64
	gain     float64
	cpTerm   float64 // tgc * compensated CP signal of the subpage
	ilOn     bool
	pattern  Pattern
	subpage  int
	ksTaCorr float64
}

func (p *Params) frameConsts(r *RawFrame) frameConsts {
	f := &p.fast
	var c frameConsts
	c.vdd = p.Vdd(r)
	c.ta = p.ta(r, c.vdd)
	c.dTa = c.ta - 25
	c.dV = c.vdd - 3.3
	c.gain = f.gainEE / float64(int16(r[IdxGain]))
	c.pattern = r.Pattern()
	c.subpage = r.Subpage()
	// mode as the library computes it: 128 or 0, compared with calibrationModeEE.
	c.ilOn = uint8(c.pattern)<<7 != p.CalibrationModeEE
	comp := (1 + f.cpKta*c.dTa) * (1 + f.cpKv*c.dV)
	cp := float64(int16(r[IdxCP0]))*c.gain - f.cpOff[0]*comp
	if c.subpage == 1 {
		off := f.cpOff[1]
		if c.ilOn {
			off += f.il0
		}
		cp = float64(int16(r[IdxCP1]))*c.gain - off*comp
	}
	c.cpTerm = f.tgc * cp
	c.ksTaCorr = 1 + f.ksTa*c.dTa
	return c
}

// Compute decodes one subpage: it returns the supply voltage (V) and the die
// temperature (deg C), and writes the object temperature (deg C) of the
// pixels of r's subpage into to; the other 384 entries are left untouched.
// emissivity is the scene's emissivity (0 < e <= 1); tr is the reflected
// temperature in deg C, or NaN for the Melexis default tr = Ta - TaShift.
//
// Compute is the library's MLX90640_CalculateTo (current algorithm, in
// float64) with its per-pixel constants precomputed; it does not allocate.
// It uses r's subpage number modulo 2: check r.Validate first for data from
// an untrusted source.
func (p *Params) Compute(r *RawFrame, emissivity, tr float64, to *[Pixels]float64) (vdd, ta float64) {
	f := &p.fast
	c := p.frameConsts(r)
	if math.IsNaN(tr) {
		tr = c.ta - TaShift
	}
	ta4 := c.ta + 273.15
	ta4 *= ta4
	ta4 *= ta4
	tr4 := tr + 273.15
	tr4 *= tr4
	tr4 *= tr4
	taTr := tr4 - (tr4-ta4)/emissivity
	invE := 1 / emissivity
	k1c := 1 - f.ksTo[1]*273.15
	tbl := &f.tbl[c.pattern][c.subpage]
	for i := range tbl {
		px := &tbl[i]
		ir := float64(int16(r[px.idx]))*c.gain - px.off*(1+px.kta*c.dTa)*(1+px.kv*c.dV)
		if c.ilOn {
			ir += px.il
		}
		ir = (ir - c.cpTerm) * invE
		to[px.idx] = f.temperature(ir, px.alpha*c.ksTaCorr, taTr, k1c)
	}
	return c.vdd, c.ta
}

// Image is the library's MLX90640_GetImage: for the pixels of r's subpage,
// the compensated IR signal times the scaled integer Alpha (no emissivity,
// no temperature). Other entries are left untouched.
func (p *Params) Image(r *RawFrame, img *[Pixels]float64) {
	f := &p.fast
	c := p.frameConsts(r)
	tbl := &f.tbl[c.pattern][c.subpage]
	for i := range tbl {
		px := &tbl[i]
		ir := float64(int16(r[px.idx]))*c.gain - px.off*(1+px.kta*c.dTa)*(1+px.kv*c.dV)
		if c.ilOn {
			ir += px.il
		}
		img[px.idx] = (ir - c.cpTerm) * float64(p.Alpha[px.idx])
	}
}

// temperature is the object temperature (deg C) of a pixel with compensated
// IR signal ir (already divided by the emissivity) and sensitivity a, in the
// Melexis two-step form: a first estimate with the 0..ct2 slope picks the
// ksTo range, the second uses that range's slope and alphaCorrR. k1c is
// 1 - ksTo[1]*273.15.
func (f *fastParams) temperature(ir, a, taTr, k1c float64) float64 {
	sx := a * a * a * (ir + a*taTr)
	sx = math.Sqrt(math.Sqrt(sx)) * f.ksTo[1]
	t := math.Sqrt(math.Sqrt(ir/(a*k1c+sx)+taTr)) - 273.15
	r := 3
	switch {
	case t < f.ct[1]:
		r = 0
	case t < f.ct[2]:
		r = 1
	case t < f.ct[3]:
		r = 2
	}
	return math.Sqrt(math.Sqrt(ir/(a*f.alphaCorrR[r]*(1+f.ksTo[r]*(t-f.ct[r])))+taTr)) - 273.15
}
