package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// jsonReading is the JSON-lines form of a reading shared by the stdout and
// file publishers.
type jsonReading struct {
	Seq     uint64           `json:"seq"`
	Time    string           `json:"time"` // sensor time, RFC 3339 with nanoseconds
	Metric  string           `json:"metric"`
	Value   float64          `json:"value"`
	Unit    string           `json:"unit,omitempty"`
	Quality pipeline.Quality `json:"quality"`
	Text    string           `json:"text,omitempty"`
	Batch   uint64           `json:"batch"`
	Count   uint32           `json:"count,omitempty"` // window aggregates only (Count > 1)
	Min     *float64         `json:"min,omitempty"`
	Max     *float64         `json:"max,omitempty"`
	Last    *float64         `json:"last,omitempty"`
}

// appendJSONLines appends one JSON line per reading of b to dst and marks
// readings that cannot be encoded (a NaN or infinite value) Rejected in res.
func appendJSONLines(dst []byte, b *pipeline.Batch, res []Result) []byte {
	for i := range b.Readings {
		r := &b.Readings[i]
		j := jsonReading{Seq: r.Seq, Time: r.Time.UTC().Format(time.RFC3339Nano), Metric: r.Metric, Value: r.Value,
			Unit: r.Unit, Quality: r.Quality, Text: r.Text, Batch: b.ID}
		if r.Count > 1 {
			j.Count, j.Min, j.Max, j.Last = r.Count, &r.Min, &r.Max, &r.Last
		}
		if !finite(r.Value) || r.Count > 1 && !(finite(r.Min) && finite(r.Max) && finite(r.Last)) {
			res[i] = Result{Status: Rejected, Reason: "value is not a finite number"}
			continue
		}
		line, err := json.Marshal(j)
		if err != nil {
			res[i] = Result{Status: Rejected, Reason: "encode JSON: " + err.Error()}
			continue
		}
		dst = append(append(dst, line...), '\n')
	}
	return dst
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// acceptRest marks every reading not rejected as accepted.
func acceptRest(res []Result) {
	for i := range res {
		if res[i].Status != Rejected {
			res[i] = Result{Status: Accepted}
		}
	}
}

// Stdout writes readings as JSON lines, one reading per line, to a writer
// (the process's standard output, which Greengrass captures into the
// component log):
//
//	{"seq":42,"time":"2026-01-01T00:00:01.5Z","metric":"rpm","value":812.5,"unit":"rpm","quality":"GOOD","batch":7}
//
// Window aggregates add count, min, max and last. A reading is accepted once
// the write of its batch returned without error.
type Stdout struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
}

// NewStdout returns a publisher writing to w, named name ("stdout" if
// empty).
func NewStdout(w io.Writer, name string) *Stdout {
	if name == "" {
		name = "stdout"
	}
	return &Stdout{name: name, w: w}
}

var _ Publisher = (*Stdout)(nil)

// Name returns the publisher's name.
func (s *Stdout) Name() string { return s.name }

// Send writes b's readings with one Write call.
func (s *Stdout) Send(ctx context.Context, b *pipeline.Batch, res []Result) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = appendJSONLines(s.buf[:0], b, res)
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			return fmt.Errorf("publish: %s: write: %w", s.name, err)
		}
	}
	acceptRest(res)
	return nil
}

// Close does nothing; the writer belongs to the caller.
func (s *Stdout) Close() error { return nil }
