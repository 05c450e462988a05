package greengrass

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stirling-iot/stirling/pipeline"
)

// Payload layouts (the same names as the config's layout key).
const (
	LayoutSample = "sample" // one message per reading: a JSON object
	LayoutBatch  = "batch"  // one message per chunk of a batch: a JSON array of those objects
)

// appendReading appends r as one JSON object, the same object the stdout
// and file publishers write per line:
//
//	{"seq":12,"time":"2026-11-22T03:10:23.5Z","metric":"rpm","value":1512.5,
//	 "unit":"rpm","quality":"GOOD","batch":42}
//
// "unit" and "text" (string-valued metrics) are omitted when empty; window
// aggregates (count > 1) add "count", "min", "max" and "last". batch is the
// spool record id. The caller rejects non-finite values first (see finite):
// JSON cannot carry them.
func appendReading(b []byte, r *pipeline.Reading, batch uint64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","metric":`...)
	b = appendJSONString(b, r.Metric)
	b = append(b, `,"value":`...)
	b = appendFloat(b, r.Value)
	if r.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, r.Unit)
	}
	b = append(b, `,"quality":"`...)
	b = append(b, r.Quality.String()...)
	b = append(b, '"')
	if r.Text != "" {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, r.Text)
	}
	b = append(b, `,"batch":`...)
	b = strconv.AppendUint(b, batch, 10)
	if r.Count > 1 {
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, uint64(r.Count), 10)
		b = append(b, `,"min":`...)
		b = appendFloat(b, r.Min)
		b = append(b, `,"max":`...)
		b = appendFloat(b, r.Max)
		b = append(b, `,"last":`...)
		b = appendFloat(b, r.Last)
	}
	return append(b, '}')
}

// finite reports whether r's numbers can be written as JSON.
func finite(r *pipeline.Reading) bool {
	ok := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	return ok(r.Value) && (r.Count <= 1 || ok(r.Min) && ok(r.Max) && ok(r.Last))
}

// appendFloat formats f as encoding/json does (shortest representation,
// exponent form only below 1e-6 or from 1e21).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		n := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// e-07 -> e-7, as encoding/json writes it.
		if m := len(b) - n; m >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendJSONString appends s as a JSON string, escaping what JSON requires
// and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
