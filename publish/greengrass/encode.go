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

// appendReading appends r as one JSON object:
//
//	{"seq":12,"metric":"rpm","unit":"rpm","time":"2026-11-22T03:10:23.5Z",
//	 "value":1512.5,"quality":"GOOD","count":1}
//
// Window aggregates (count > 1) add "min", "max" and "last". A string-valued
// metric carries "text" instead of "value". A non-finite value, which JSON
// cannot carry, is written as null.
func appendReading(b []byte, r *pipeline.Reading) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"metric":`...)
	b = appendJSONString(b, r.Metric)
	if r.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, r.Unit)
	}
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Text != "" {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, r.Text)
	} else {
		b = append(b, `,"value":`...)
		b = appendFloat(b, r.Value)
	}
	b = append(b, `,"quality":"`...)
	b = append(b, r.Quality.String()...)
	b = append(b, `","count":`...)
	b = strconv.AppendUint(b, uint64(r.Count), 10)
	if r.Count > 1 && r.Text == "" {
		b = append(b, `,"min":`...)
		b = appendFloat(b, r.Min)
		b = append(b, `,"max":`...)
		b = appendFloat(b, r.Max)
		b = append(b, `,"last":`...)
		b = appendFloat(b, r.Last)
	}
	return append(b, '}')
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
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
