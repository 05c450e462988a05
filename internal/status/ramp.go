package status

import (
	"encoding/json"
	"net/http"

	"github.com/stirling-iot/stirling/internal/heatmap"
)

// RampStop is one stop of the heat-map colour ramp: the colour at position
// At (0 = coldest, 1 = hottest of the scale).
type RampStop struct {
	At      float64
	R, G, B uint8
}

// MarshalJSON writes {"at":0.5,"rgb":[r,g,b]}, the form heatmap.js reads.
func (s RampStop) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		At  float64  `json:"at"`
		RGB [3]uint8 `json:"rgb"`
	}{s.At, [3]uint8{s.R, s.G, s.B}})
}

// Ramp returns the colour ramp of the web pages: the stops of
// heatmap.Ramp, so the pages, the PNGs and the terminal agree.
func Ramp() []RampStop {
	hs := heatmap.Ramp()
	out := make([]RampStop, len(hs))
	for i, s := range hs {
		out[i] = RampStop{At: s.Pos, R: s.R, G: s.G, B: s.B}
	}
	return out
}

func handleRamp(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=60")
	writeJSON(w, Ramp())
}
