package camera

import (
	"math"

	"github.com/stirling-iot/stirling/sensors"
)

// synthesizer turns object temperatures into the raw frame words a chip
// with a given calibration would produce: the inverse of the Melexis
// algorithm. ram is the library's frame layout: [0..767] pixels, [768..831]
// auxiliary words, [832] control register, [833] subpage.
type synthesizer interface {
	Synthesize(subpage int, ctrl uint16, ta, vdd, emissivity, tr float64, to *[sensors.Pixels]float64, ram *[834]uint16)
}

// newSynthesizer extracts the calibration from ee.
func newSynthesizer(ee *[eeWords]uint16) (synthesizer, error) {
	return placeholder{}, nil
}

// placeholder stores To*64 in the pixel words until the inversion in
// package mlx90640 is available. Its frames do not decode to the scene.
type placeholder struct{}

func (placeholder) Synthesize(subpage int, ctrl uint16, ta, vdd, _, _ float64, to *[sensors.Pixels]float64, ram *[834]uint16) {
	for i, v := range to {
		ram[i] = uint16(int16(max(min(math.Round(v*64), 32000), -32000)))
	}
	ram[768] = uint16(int16(math.Round(ta * 64)))
	ram[810] = uint16(int16(math.Round(vdd * 64)))
	ram[832] = ctrl
	ram[833] = uint16(subpage)
}
