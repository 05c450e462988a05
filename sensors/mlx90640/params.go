package mlx90640

import (
	"errors"
	"fmt"
	"math"
)

// Geometry and memory map.
const (
	Rows       = 24
	Cols       = 32
	Pixels     = Rows * Cols // 768
	EEPROMSize = 832         // words at EEPROMAddr
	RAMSize    = 832         // words at RAMAddr: 768 pixels + 64 aux
	FrameSize  = 834         // RAM words + control register + subpage number

	EEPROMAddr  = 0x2400
	RAMAddr     = 0x0400
	AuxAddr     = 0x0700
	StatusAddr  = 0x8000
	ControlAddr = 0x800D

	// NoPixel ends the broken and outlier pixel lists.
	NoPixel = 0xFFFF

	// TaShift is the default offset between the sensor's die temperature and
	// the reflected temperature in open air: tr = Ta - TaShift (Melexis
	// TA_SHIFT).
	TaShift = 8.0
)

// Melexis status codes returned by ExtractParameters (negated, as the C
// library returns them).
const (
	StatusOK             = 0
	StatusBrokenPixels   = -3 // more than four broken pixels
	StatusOutlierPixels  = -4 // more than four outlier pixels
	StatusBadPixels      = -5 // more than four broken and outlier pixels together
	StatusAdjacentPixels = -6 // two bad pixels are neighbours (8-connectivity)
	StatusEEPROM         = -7 // the EEPROM content cannot be a calibration
)

// Errors returned by ExtractParameters. Each wraps into a *StatusError that
// carries the Melexis status code.
var (
	ErrBrokenPixels   = errors.New("too many broken pixels")
	ErrOutlierPixels  = errors.New("too many outlier pixels")
	ErrBadPixels      = errors.New("too many broken and outlier pixels")
	ErrAdjacentPixels = errors.New("adjacent bad pixels")
	ErrBadEEPROM      = errors.New("invalid EEPROM contents")
)

// StatusError is a parameter-extraction problem with its Melexis status code.
type StatusError struct {
	Code int   // one of the Status* constants
	Err  error // one of the ErrX sentinels above
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("mlx90640: extract parameters: %v (status %d)", e.Err, e.Code)
}

func (e *StatusError) Unwrap() error { return e.Err }

// Status returns the Melexis status code of an ExtractParameters error: 0 for
// nil, the code of a *StatusError, and StatusEEPROM for anything else.
func Status(err error) int {
	if err == nil {
		return StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return StatusEEPROM
}

// Params is the calibration extracted from the EEPROM. The exported fields
// mirror the Melexis paramsMLX90640 struct field for field (the JSON names are
// the C names), with the C library's float32 values; the unexported tables
// are per-pixel constants precomputed for Compute.
type Params struct {
	KVdd              int16      `json:"kVdd"`
	Vdd25             int16      `json:"vdd25"`
	KvPTAT            float32    `json:"KvPTAT"`
	KtPTAT            float32    `json:"KtPTAT"`
	VPTAT25           uint16     `json:"vPTAT25"`
	AlphaPTAT         float32    `json:"alphaPTAT"`
	GainEE            int16      `json:"gainEE"`
	TGC               float32    `json:"tgc"`
	CpKv              float32    `json:"cpKv"`
	CpKta             float32    `json:"cpKta"`
	ResolutionEE      uint8      `json:"resolutionEE"`
	CalibrationModeEE uint8      `json:"calibrationModeEE"` // 128 = calibrated in chess mode, 0 = interleaved
	KsTa              float32    `json:"KsTa"`
	KsTo              [5]float32 `json:"ksTo"`
	CT                [5]int16   `json:"ct"`
	// Alpha is the scaled sensitivity: alpha = 1e-6 * 2^AlphaScale / Alpha[i].
	Alpha      [Pixels]uint16 `json:"alpha"`
	AlphaScale uint8          `json:"alphaScale"`
	Offset     [Pixels]int16  `json:"offset"`
	// Kta[i] / 2^KtaScale is the pixel's Kta.
	Kta      [Pixels]int8 `json:"kta"`
	KtaScale uint8        `json:"ktaScale"`
	// Kv[i] / 2^KvScale is the pixel's Kv.
	Kv            [Pixels]int8 `json:"kv"`
	KvScale       uint8        `json:"kvScale"`
	CpAlpha       [2]float32   `json:"cpAlpha"`
	CpOffset      [2]int16     `json:"cpOffset"`
	ILChessC      [3]float32   `json:"ilChessC"`
	BrokenPixels  [5]uint16    `json:"brokenPixels"`  // NoPixel = unused
	OutlierPixels [5]uint16    `json:"outlierPixels"` // NoPixel = unused

	// Status is the Melexis status code of the extraction (StatusOK or a
	// bad-pixel code); ExtractParameters also returns it as an error.
	Status int `json:"-"`

	fast fastParams
}

// ExtractParameters decodes an EEPROM dump of EEPROMSize words.
//
// It follows the Melexis library bit for bit, including the float32
// arithmetic that the re-quantised Alpha, Kta and Kv come from. A bad-pixel
// condition (status -3..-6) returns both the complete Params and a
// *StatusError wrapping ErrBrokenPixels, ErrOutlierPixels, ErrBadPixels or
// ErrAdjacentPixels; the Params are usable, as with the C library. A dump
// that cannot be a calibration (wrong length, zero Vdd or PTAT slopes or
// gain, non-finite sensitivities: a bus that returned all zeros or all ones)
// returns nil and an error wrapping ErrBadEEPROM.
func ExtractParameters(ee []uint16) (*Params, error) {
	if len(ee) != EEPROMSize {
		return nil, &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: %d words, want %d", ErrBadEEPROM, len(ee), EEPROMSize)}
	}
	p := new(Params)
	p.extractVdd(ee)
	p.extractPTAT(ee)
	p.GainEE = int16(ee[48])
	p.TGC = float32(int8(ee[60])) / 32
	p.ResolutionEE = uint8((ee[56] & 0x3000) >> 12)
	p.KsTa = float32(int8(ee[60]>>8)) / 8192
	p.extractKsTo(ee)
	p.extractCP(ee)
	if err := p.extractAlpha(ee); err != nil {
		return nil, err
	}
	p.extractOffset(ee)
	p.Kta, p.KtaScale = p.extractKta(ee)
	p.Kv, p.KvScale = p.extractKv(ee)
	p.extractILChess(ee)
	switch {
	case p.KVdd == 0:
		return nil, &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: kVdd is 0", ErrBadEEPROM)}
	case p.KtPTAT == 0:
		return nil, &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: KtPTAT is 0", ErrBadEEPROM)}
	case p.GainEE == 0:
		return nil, &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: gainEE is 0", ErrBadEEPROM)}
	}
	p.Status = p.extractDeviatingPixels(ee)
	p.precompute()
	return p, statusError(p.Status)
}

func statusError(code int) error {
	switch code {
	case StatusOK:
		return nil
	case StatusBrokenPixels:
		return &StatusError{Code: code, Err: ErrBrokenPixels}
	case StatusOutlierPixels:
		return &StatusError{Code: code, Err: ErrOutlierPixels}
	case StatusBadPixels:
		return &StatusError{Code: code, Err: ErrBadPixels}
	case StatusAdjacentPixels:
		return &StatusError{Code: code, Err: ErrAdjacentPixels}
	}
	return &StatusError{Code: code, Err: ErrBadEEPROM}
}

// Bit-field helpers. Nibble n counts from the least significant (1..4).
func nibble(w uint16, n uint) int { return int(w>>(4*(n-1))) & 0xF }

// signed interprets the low bits of v as a two's complement number.
func signed(v int, bits uint) int {
	if v >= 1<<(bits-1) {
		return v - 1<<bits
	}
	return v
}

func pow2(n int) float64 { return math.Ldexp(1, n) }

func (p *Params) extractVdd(ee []uint16) {
	p.KVdd = int16(32 * int(int8(ee[51]>>8)))
	vdd25 := int(ee[51] & 0xFF)
	p.Vdd25 = int16(((vdd25 - 256) << 5) - 8192)
}

func (p *Params) extractPTAT(ee []uint16) {
	p.KvPTAT = float32(signed(int(ee[50]>>10), 6)) / 4096
	p.KtPTAT = float32(signed(int(ee[50]&0x3FF), 10)) / 8
	p.VPTAT25 = ee[49]
	p.AlphaPTAT = float32(float64(ee[16]&0xF000)/pow2(14) + 8)
}

func (p *Params) extractKsTo(ee []uint16) {
	w := ee[63]
	step := int((w&0x3000)>>12) * 10
	p.CT[0] = -40
	p.CT[1] = 0
	p.CT[2] = int16(nibble(w, 2) * step)
	p.CT[3] = p.CT[2] + int16(nibble(w, 3)*step)
	p.CT[4] = 400
	scale := float32(int32(1) << (nibble(w, 1) + 8))
	p.KsTo[0] = float32(int8(ee[61])) / scale
	p.KsTo[1] = float32(int8(ee[61]>>8)) / scale
	p.KsTo[2] = float32(int8(ee[62])) / scale
	p.KsTo[3] = float32(int8(ee[62]>>8)) / scale
	p.KsTo[4] = -0.0002
}

func (p *Params) extractCP(ee []uint16) {
	alphaScale := nibble(ee[32], 4) + 27
	off0 := signed(int(ee[58]&0x3FF), 10)
	off1 := signed(int(ee[58]>>10), 6) + off0
	a0 := float32(float64(signed(int(ee[57]&0x3FF), 10)) / pow2(alphaScale))
	a1 := float32(1+float32(signed(int(ee[57]>>10), 6))/128) * a0
	ktaScale1 := nibble(ee[56], 2) + 8
	kvScale := nibble(ee[56], 3)
	p.CpKta = float32(float64(int8(ee[59])) / pow2(ktaScale1))
	p.CpKv = float32(float64(int8(ee[59]>>8)) / pow2(kvScale))
	p.CpAlpha = [2]float32{a0, a1}
	p.CpOffset = [2]int16{int16(off0), int16(off1)}
}

// rowCol reads the 24 row and 32 column signed nibbles that start at word
// base (6 row words then 8 column words).
func rowCol(ee []uint16, base int) (row [Rows]int, col [Cols]int) {
	for i := range 6 {
		for n := range 4 {
			row[4*i+n] = signed(nibble(ee[base+i], uint(n+1)), 4)
		}
	}
	for i := range 8 {
		for n := range 4 {
			col[4*i+n] = signed(nibble(ee[base+6+i], uint(n+1)), 4)
		}
	}
	return row, col
}

func (p *Params) extractAlpha(ee []uint16) error {
	remScale := nibble(ee[32], 1)
	colScale := nibble(ee[32], 2)
	rowScale := nibble(ee[32], 3)
	alphaScale := nibble(ee[32], 4) + 30
	ref := int(ee[33])
	accRow, accCol := rowCol(ee, 34)
	// The C library computes these in float32; so do we, so that the
	// re-quantised integers come out identical.
	tgcCorr := float32(p.TGC*float32(p.CpAlpha[0]+p.CpAlpha[1])) / 2
	var tmp [Pixels]float32
	for i := range Rows {
		for j := range Cols {
			k := Cols*i + j
			a := float32(signed(int((ee[64+k]&0x3F0)>>4), 6)) * float32(int(1)<<remScale)
			a = float32(ref+accRow[i]<<rowScale+accCol[j]<<colScale) + a
			a = float32(float64(a) / pow2(alphaScale))
			a -= tgcCorr
			tmp[k] = float32(1e-6 / float64(a))
		}
	}
	hi := tmp[0]
	for _, v := range tmp[1:] {
		if v > hi {
			hi = v
		}
	}
	if !(hi > 0) || math.IsInf(float64(hi), 0) {
		return &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: pixel sensitivities are not finite", ErrBadEEPROM)}
	}
	scale := 0
	for float64(hi) < 32767.4 {
		hi *= 2
		scale++
	}
	for k, v := range tmp {
		t := float32(float64(v) * pow2(scale))
		if !(t > -0.5) {
			return &StatusError{Code: StatusEEPROM, Err: fmt.Errorf("%w: pixel %d has a negative sensitivity", ErrBadEEPROM, k)}
		}
		p.Alpha[k] = uint16(int32(float64(t) + 0.5))
	}
	p.AlphaScale = uint8(scale)
	return nil
}

func (p *Params) extractOffset(ee []uint16) {
	remScale := nibble(ee[16], 1)
	colScale := nibble(ee[16], 2)
	rowScale := nibble(ee[16], 3)
	ref := int(int16(ee[17]))
	occRow, occCol := rowCol(ee, 18)
	for i := range Rows {
		for j := range Cols {
			k := Cols*i + j
			o := signed(int(ee[64+k]>>10), 6) * (1 << remScale)
			p.Offset[k] = int16(ref + occRow[i]<<rowScale + occCol[j]<<colScale + o)
		}
	}
}

// split is the index of the row/column parity class of pixel k: 0 odd row
// odd column (1-based), 1 odd row even column, 2 even row odd column, 3 even
// even; that is 2*(row&1) + (col&1) with 0-based row and column.
func split(k int) int { return 2*((k/Cols)&1) + k&1 }

// requantise scales v so its largest magnitude lies in [63.4, 126.8) and
// rounds half away from zero to int8, as the Melexis library does.
func requantise(v *[Pixels]float32) (out [Pixels]int8, scale uint8) {
	hi := float32(0)
	for _, x := range v {
		if a := float32(math.Abs(float64(x))); a > hi {
			hi = a
		}
	}
	s := 0
	if hi > 0 { // the C library loops forever on an all-zero table
		for float64(hi) < 63.4 {
			hi *= 2
			s++
		}
	}
	for k, x := range v {
		t := float64(float32(float64(x) * pow2(s)))
		if t < 0 {
			t -= 0.5
		} else {
			t += 0.5
		}
		out[k] = int8(int32(t)) // wraps like the C conversion on overflow
	}
	return out, uint8(s)
}

func (p *Params) extractKta(ee []uint16) ([Pixels]int8, uint8) {
	rc := [4]int{int(int8(ee[54] >> 8)), int(int8(ee[55] >> 8)), int(int8(ee[54])), int(int8(ee[55]))}
	scale1 := nibble(ee[56], 2) + 8
	scale2 := nibble(ee[56], 1)
	var tmp [Pixels]float32
	for k := range tmp {
		t := float32(signed(int((ee[64+k]&0xE)>>1), 3)) * float32(int(1)<<scale2)
		t = float32(rc[split(k)]) + t
		tmp[k] = float32(float64(t) / pow2(scale1))
	}
	return requantise(&tmp)
}

func (p *Params) extractKv(ee []uint16) ([Pixels]int8, uint8) {
	w := ee[52]
	kvT := [4]int{signed(nibble(w, 4), 4), signed(nibble(w, 2), 4), signed(nibble(w, 3), 4), signed(nibble(w, 1), 4)}
	scale := nibble(ee[56], 3)
	var tmp [Pixels]float32
	for k := range tmp {
		tmp[k] = float32(float64(kvT[split(k)]) / pow2(scale))
	}
	return requantise(&tmp)
}

func (p *Params) extractILChess(ee []uint16) {
	p.CalibrationModeEE = uint8((ee[10]&0x0800)>>4) ^ 0x80
	w := ee[53]
	p.ILChessC[0] = float32(signed(int(w&0x3F), 6)) / 16
	p.ILChessC[1] = float32(signed(int((w&0x7C0)>>6), 5)) / 2
	p.ILChessC[2] = float32(signed(int((w&0xF800)>>11), 5)) / 8
}

// extractDeviatingPixels fills the broken (word 0) and outlier (bit 0 set)
// pixel lists and returns the Melexis status code.
func (p *Params) extractDeviatingPixels(ee []uint16) int {
	for i := range 5 {
		p.BrokenPixels[i] = NoPixel
		p.OutlierPixels[i] = NoPixel
	}
	nb, no := 0, 0
	for k := 0; k < Pixels && nb < 5 && no < 5; k++ {
		switch {
		case ee[64+k] == 0:
			p.BrokenPixels[nb] = uint16(k)
			nb++
		case ee[64+k]&1 != 0:
			p.OutlierPixels[no] = uint16(k)
			no++
		}
	}
	switch {
	case nb > 4:
		return StatusBrokenPixels
	case no > 4:
		return StatusOutlierPixels
	case nb+no > 4:
		return StatusBadPixels
	}
	for i := range nb {
		for j := i + 1; j < nb; j++ {
			if adjacent(p.BrokenPixels[i], p.BrokenPixels[j]) {
				return StatusAdjacentPixels
			}
		}
	}
	for i := range no {
		for j := i + 1; j < no; j++ {
			if adjacent(p.OutlierPixels[i], p.OutlierPixels[j]) {
				return StatusAdjacentPixels
			}
		}
	}
	for i := range nb {
		for j := range no {
			if adjacent(p.BrokenPixels[i], p.OutlierPixels[j]) {
				return StatusAdjacentPixels
			}
		}
	}
	return StatusOK
}

// adjacent reports whether two pixels touch, diagonals included.
func adjacent(a, b uint16) bool {
	dr := int(a>>5) - int(b>>5)
	dc := int(a&31) - int(b&31)
	return dr > -2 && dr < 2 && dc > -2 && dc < 2
}
