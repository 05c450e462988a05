package status

import (
	"encoding/json"
	"net/http"
)

// RampStop is one stop of the heat-map colour ramp: the colour at position
// At (0 = coldest, 1 = hottest of the scale).
type RampStop struct {
	At      float64 `json:"at"`
	R, G, B uint8
}

// MarshalJSON writes {"at":0.5,"rgb":[r,g,b]}.
func (s RampStop) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		At  float64  `json:"at"`
		RGB [3]uint8 `json:"rgb"`
	}{s.At, [3]uint8{s.R, s.G, s.B}})
}

// Ramp returns the colour ramp of the heat maps on the web pages.
func Ramp() []RampStop {
	return []RampStop{
		{0, 0, 0, 4},
		{0.15, 40, 11, 84},
		{0.35, 101, 21, 110},
		{0.5, 159, 42, 99},
		{0.65, 212, 72, 66},
		{0.8, 245, 125, 21},
		{0.92, 250, 193, 39},
		{1, 252, 255, 164},
	}
}

func handleRamp(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=60")
	writeJSON(w, Ramp())
}
