package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// spoolMaxBytes is the spool bound of the shipped agent.yaml (512 MiB); a
// day at 1 Hz takes about 100 MB on disk.
const spoolMaxBytes = 512 << 20

// engineStateEvery is how often the backlog carries an engine_state reading:
// the pipeline repeats the state once per heartbeat (1 min by default) and
// otherwise only on a change.
const engineStateEvery = 60

// backlog describes a spool directory filled by buildBacklog.
type backlog struct {
	Dir      string
	Records  uint64 // spool records (one per second of sensor time)
	Readings uint64 // readings, Seq 1..Readings
	Bytes    int64  // segment bytes on disk
}

// windowBatch returns the readings the pipeline emits for the 1 s window
// starting at t: every metric of pipeline.Metrics as a window aggregate of
// 4 camera frames (rpm: about 10 revolutions), engine_state only every
// engineStateEvery seconds. Values move slowly and stay finite.
func windowBatch(t time.Time, sec int) *pipeline.Batch {
	metrics := pipeline.Metrics()
	b := &pipeline.Batch{Readings: make([]pipeline.Reading, 0, len(metrics))}
	phase := float64(sec) / 600
	for i, m := range metrics {
		if m == pipeline.MetricEngineState && sec%engineStateEvery != 0 {
			continue
		}
		v := 50 + 10*float64(i) + 5*math.Sin(phase+float64(i))
		r := pipeline.Reading{
			Metric: m, Unit: pipeline.Unit(m), Time: t, Value: v, Quality: pipeline.Good,
			Min: v - 1.5, Max: v + 1.25, Last: v + 0.5, Count: 4,
		}
		switch m {
		case pipeline.MetricRPM:
			r.Value, r.Min, r.Max, r.Last, r.Count = 612.5+v, 600+v, 625+v, 611+v, 10
		case pipeline.MetricEngineState:
			r.Value, r.Min, r.Max, r.Last, r.Count, r.Text = 3, 3, 3, 3, 1, "running"
		case pipeline.MetricFlamePresent:
			r.Value, r.Min, r.Max, r.Last = 1, 1, 1, 1
		case pipeline.MetricCarnot:
			r.Value, r.Min, r.Max, r.Last = 0.27, 0.26, 0.28, 0.27
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}

// buildBacklog fills a new spool in dir with seconds one-second batches
// whose sensor timestamps end just before now, through pipeline.SpoolWriter (the
// pipeline's own stage: it numbers the readings and encodes the batches).
func buildBacklog(tb testing.TB, dir string, seconds int) backlog {
	tb.Helper()
	sp, err := spool.Open(dir, spool.Opts{MaxBytes: spoolMaxBytes}, nil)
	if err != nil {
		tb.Fatalf("open spool: %v", err)
	}
	w, err := pipeline.NewSpoolWriter(sp, nil)
	if err != nil {
		tb.Fatal(err)
	}
	in := make(chan *pipeline.Batch, 64)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), in) }()
	start := time.Now().Truncate(time.Second).Add(-time.Duration(seconds) * time.Second)
	for s := range seconds {
		in <- windowBatch(start.Add(time.Duration(s)*time.Second), s)
	}
	close(in)
	if err := <-done; err != nil {
		tb.Fatalf("spool writer: %v", err)
	}
	ws := w.Stats()
	ss := sp.Stats()
	if err := sp.Close(); err != nil {
		tb.Fatalf("close spool: %v", err)
	}
	if ws.Errors != 0 || ss.DroppedFull != 0 || ws.Batches != uint64(seconds) {
		tb.Fatalf("backlog: %d batches, %d errors, %d dropped; want %d, 0, 0", ws.Batches, ws.Errors, ss.DroppedFull, seconds)
	}
	return backlog{Dir: dir, Records: ws.Batches, Readings: ws.Readings, Bytes: ss.DiskBytes}
}

// copyBacklog copies the segment files of src into a fresh directory, so
// every benchmark iteration drains an identical, untouched spool.
func copyBacklog(tb testing.TB, src backlog, dst string) backlog {
	tb.Helper()
	segs, err := filepath.Glob(filepath.Join(src.Dir, "*.seg"))
	if err != nil || len(segs) == 0 {
		tb.Fatalf("backlog segments in %s: %v (%d found)", src.Dir, err, len(segs))
	}
	for _, s := range segs {
		if err := copyFile(s, filepath.Join(dst, filepath.Base(s))); err != nil {
			tb.Fatal(err)
		}
	}
	out := src
	out.Dir = dst
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("bench: copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("bench: copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("bench: copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("bench: copy %s: %w", dst, err)
	}
	return nil
}
