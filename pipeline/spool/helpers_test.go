package spool

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/pipeline"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "crash":
		crashChild(os.Getenv(childDirEnv))
		os.Exit(0)
	case "replay":
		replayChild(os.Getenv(childDirEnv))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newFakeClock is a manually advanced clock.
func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

func mustOpen(t testing.TB, dir string, opts Opts) *Spool {
	t.Helper()
	s, err := Open(dir, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// payloadFor is a recognisable payload of n bytes for seq.
func payloadFor(seq uint64, n int) []byte {
	p := fmt.Appendf(nil, "rec-%d;", seq)
	for len(p) < n {
		p = append(p, byte('a'+len(p)%26))
	}
	return p
}

// readAll reads records from c until it has seen seq last (or fails after
// a timeout).
func readAll(t testing.TB, c *Cursor, last uint64) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Record
	for {
		if len(out) > 0 && out[len(out)-1].Seq >= last {
			return out
		}
		r, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records (want up to seq %d): %v", len(out), last, err)
		}
		out = append(out, r)
	}
}

// metricNames are the ten metrics of a realistic one-second window.
var metricNames = []struct{ metric, unit string }{
	{"rpm", "rpm"}, {"hot_cylinder_temp", "degC"}, {"cold_cylinder_temp", "degC"},
	{"flame_temp", "degC"}, {"hot_cold_delta", "degC"}, {"rpm_stddev", "rpm"},
	{"frame_rate", "Hz"}, {"sensor_temp", "degC"}, {"edge_count", "count"}, {"engine_state", ""},
}

// realisticBatch is a one-second window of ten readings, mostly
// aggregates, as the pipeline produces them.
func realisticBatch(i int, t0 time.Time) *pipeline.Batch {
	b := &pipeline.Batch{}
	ts := t0.Add(time.Duration(i) * time.Second)
	for k, m := range metricNames {
		r := pipeline.Reading{Metric: m.metric, Unit: m.unit, Time: ts.Add(time.Duration(k) * time.Millisecond),
			Value: 100 + float64(i%50) + float64(k)/3, Count: 1}
		switch {
		case m.metric == "engine_state":
			r.Text, r.Value = "running", 0
		case k < 5:
			r.Count, r.Min, r.Max, r.Last = 8, r.Value-1.5, r.Value+2.25, r.Value+0.5
		default:
			r.Min, r.Max, r.Last = r.Value, r.Value, r.Value
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}
