package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// ErrFrame is wrapped by every frame decoding error.
var ErrFrame = errors.New("status: bad frame document")

// FrameDoc is the JSON form of a thermal frame served at /api/frame:
//
//	{"time":"2026-11-22T03:00:00.123456789Z","seq":42,"ta":24.1,"vdd":3.3,
//	 "width":32,"height":24,"to":[21.5,null,...],"bad":[17],
//	 "rois":{"hot_cylinder":{"x":..,"y":..,"w":..,"h":..},"cold_cylinder":{..},"flame":{..}}}
//
// To holds Width*Height temperatures in deg C, row by row; null where the
// pixel has not been computed yet. Bad lists the indices of broken pixels
// (their values are interpolated).
type FrameDoc struct {
	Time   time.Time    `json:"time"`
	Seq    uint64       `json:"seq"`
	Ta     float64      `json:"ta"`
	Vdd    float64      `json:"vdd"`
	Width  int          `json:"width"`
	Height int          `json:"height"`
	To     []*float64   `json:"to"`
	Bad    []int        `json:"bad"`
	ROIs   sensors.ROIs `json:"rois"`
}

// AppendFrameJSON appends the FrameDoc JSON of f and rois to dst.
// Temperatures are written with two decimals (the sensor resolves about 0.1 K).
func AppendFrameJSON(dst []byte, f *sensors.Frame, rois sensors.ROIs) []byte {
	dst = append(dst, `{"time":"`...)
	dst = f.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, f.Seq, 10)
	dst = append(dst, `,"ta":`...)
	dst = appendFloat(dst, f.Ta)
	dst = append(dst, `,"vdd":`...)
	dst = appendFloat(dst, f.Vdd)
	dst = append(dst, `,"width":32,"height":24,"to":[`...)
	for i := range f.To {
		if i > 0 {
			dst = append(dst, ',')
		}
		if !f.Valid[i] || math.IsNaN(f.To[i]) || math.IsInf(f.To[i], 0) {
			dst = append(dst, "null"...)
			continue
		}
		dst = appendFloat(dst, f.To[i])
	}
	dst = append(dst, `],"bad":[`...)
	first := true
	for i, b := range f.Bad {
		if !b {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = strconv.AppendInt(dst, int64(i), 10)
	}
	dst = append(dst, `],"rois":{`...)
	for k, n := range rois.Named() {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, n.Name...)
		dst = append(dst, `":{"x":`...)
		dst = strconv.AppendInt(dst, int64(n.ROI.X), 10)
		dst = append(dst, `,"y":`...)
		dst = strconv.AppendInt(dst, int64(n.ROI.Y), 10)
		dst = append(dst, `,"w":`...)
		dst = strconv.AppendInt(dst, int64(n.ROI.W), 10)
		dst = append(dst, `,"h":`...)
		dst = strconv.AppendInt(dst, int64(n.ROI.H), 10)
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

func appendFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, math.Round(v*100)/100, 'f', -1, 64)
}

// DecodeFrame parses a FrameDoc into dst and returns its regions. Pixels
// that are null are marked not valid; valid pixels get Updated = the frame
// time.
func DecodeFrame(data []byte, dst *sensors.Frame) (sensors.ROIs, error) {
	var d FrameDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return sensors.ROIs{}, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if d.Width != sensors.Width || d.Height != sensors.Height || len(d.To) != sensors.Pixels {
		return sensors.ROIs{}, fmt.Errorf("%w: %dx%d with %d pixels, want %dx%d with %d",
			ErrFrame, d.Width, d.Height, len(d.To), sensors.Width, sensors.Height, sensors.Pixels)
	}
	*dst = sensors.Frame{Seq: d.Seq, Time: d.Time, Ta: d.Ta, Vdd: d.Vdd}
	for i, v := range d.To {
		if v == nil {
			continue
		}
		dst.To[i] = *v
		dst.Valid[i] = true
		dst.Updated[i] = d.Time
	}
	for _, i := range d.Bad {
		if i < 0 || i >= sensors.Pixels {
			return sensors.ROIs{}, fmt.Errorf("%w: bad pixel index %d out of range", ErrFrame, i)
		}
		dst.Bad[i] = true
	}
	return d.ROIs, nil
}
