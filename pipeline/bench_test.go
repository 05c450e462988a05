package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
)

// BenchmarkPipeline measures one sample through validation, the Hampel
// filter (window 7), the 1 s window, the deadband check and batching, on one
// goroutine. Samples rotate over every numeric metric, 10 ms of sensor time
// apart, so a window closes every 100 samples.
func BenchmarkPipeline(b *testing.B) {
	o := DefaultOpts()
	var batches int
	k := newCore(o, &counters{}, func() time.Time { return t0 }, func(*Batch) { batches++ })
	var vals [numMetrics]float64
	for i := range vals {
		vals[i] = (metricDefs[i].min + metricDefs[i].max) / 2
	}
	ts := t0.UnixNano()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		id := metricID(i % int(mEngineState))
		noise := float64(i%7) * 0.01
		k.add(sample{id, ts, vals[id] + noise, Good})
		ts += int64(10 * time.Millisecond)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkROIStats measures the region statistics of one frame (three
// regions of 64, 64 and 36 pixels, with a p90 each): the work HandleFrame
// does in the camera's goroutine.
func BenchmarkROIStats(b *testing.B) {
	var f sensors.Frame
	fillFrame(&f, t0, 25)
	for i := range f.To {
		f.To[i] = 20 + float64(i%37)
	}
	rois := testROIs()
	o := DefaultOpts().ROI
	var sink float64
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range rois.Named() {
			sink += RegionStats(&f, n.ROI, o).P90
		}
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkFrameThroughRun measures a whole frame through HandleFrame, the
// channel and Run (18 samples per frame).
func BenchmarkFrameThroughRun(b *testing.B) {
	o := DefaultOpts()
	o.Clock = clocktest.New(t0)
	p, err := New(testROIs(), &o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 1024)
	go func() {
		for range out {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	var f sensors.Frame
	fillFrame(&f, t0, 25)
	ts := t0
	b.ReportAllocs()
	for b.Loop() {
		ts = ts.Add(125 * time.Millisecond)
		f.Time = ts
		for i := range f.Updated {
			f.Updated[i] = ts
		}
		if err := p.HandleFrame(ctx, &f); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
