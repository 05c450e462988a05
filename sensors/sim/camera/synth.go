package camera

import (
	"errors"
	"fmt"

	"github.com/stirling-iot/stirling/sensors/mlx90640"
)

// synthesizer turns object temperatures into the raw words a chip with a
// given calibration would hold: the inverse of the Melexis algorithm
// (mlx90640.Params.Synthesize). ram is the library's frame layout.
type synthesizer interface {
	Synthesize(sp int, ctrl uint16, ta, vdd, emissivity, tr float64, to *[mlx90640.Pixels]float64, ram *mlx90640.RawFrame) (gotVdd, gotTa float64)
}

// newSynthesizer extracts the calibration from ee. Broken or outlier pixels
// are fine (the real chip has them too); a dump that is no calibration is
// an error.
func newSynthesizer(ee *[eeWords]uint16) (synthesizer, error) {
	p, err := mlx90640.ExtractParameters(ee[:])
	if p == nil {
		return nil, fmt.Errorf("extract calibration: %w", err)
	}
	var se *mlx90640.StatusError
	if err != nil && !errors.As(err, &se) {
		return nil, fmt.Errorf("extract calibration: %w", err)
	}
	return p, nil
}
