package publish

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// quarantineReading is a reading as the quarantine and requeue files spell it:
// every field of pipeline.Reading, so a requeued reading is the one that was
// rejected.
type quarantineReading struct {
	Seq     uint64           `json:"seq"`
	Metric  string           `json:"metric"`
	Unit    string           `json:"unit,omitempty"`
	Time    time.Time        `json:"time"`
	Value   jsonFloat        `json:"value"`
	Text    string           `json:"text,omitempty"`
	Quality pipeline.Quality `json:"quality"`
	Min     jsonFloat        `json:"min"`
	Max     jsonFloat        `json:"max"`
	Last    jsonFloat        `json:"last"`
	Count   uint32           `json:"count"`
}

// jsonFloat is a float64 that also carries NaN and ±Inf, as the strings
// "NaN", "+Inf" and "-Inf" (JSON numbers cannot; such readings are exactly
// the ones publishers reject).
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = jsonFloat(math.NaN())
		case "+Inf", "Inf":
			*f = jsonFloat(math.Inf(1))
		case "-Inf":
			*f = jsonFloat(math.Inf(-1))
		default:
			return fmt.Errorf("value %q: want a number, \"NaN\", \"+Inf\" or \"-Inf\"", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("value %s: %w", b, err)
	}
	*f = jsonFloat(v)
	return nil
}

// ReadingsJSON encodes readings as a JSON array of objects (seq, metric,
// unit, time, value, text, quality, min, max, last, count), the form the
// quarantine keeps them in. ParseReadingsJSON reverses it exactly.
func ReadingsJSON(rs []pipeline.Reading) (json.RawMessage, error) {
	out := make([]quarantineReading, len(rs))
	for i, r := range rs {
		out[i] = quarantineReading{Seq: r.Seq, Metric: r.Metric, Unit: r.Unit, Time: r.Time.UTC(), Value: jsonFloat(r.Value),
			Text: r.Text, Quality: r.Quality, Min: jsonFloat(r.Min), Max: jsonFloat(r.Max), Last: jsonFloat(r.Last), Count: r.Count}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("publish: encode readings: %w", err)
	}
	return b, nil
}

// ParseReadingsJSON decodes what ReadingsJSON wrote.
func ParseReadingsJSON(b []byte) ([]pipeline.Reading, error) {
	var in []quarantineReading
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("publish: decode readings: %w", err)
	}
	rs := make([]pipeline.Reading, len(in))
	for i, r := range in {
		rs[i] = pipeline.Reading{Seq: r.Seq, Metric: r.Metric, Unit: r.Unit, Time: r.Time, Value: float64(r.Value),
			Text: r.Text, Quality: r.Quality, Min: float64(r.Min), Max: float64(r.Max), Last: float64(r.Last), Count: r.Count}
	}
	return rs, nil
}
