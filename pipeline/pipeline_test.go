package pipeline

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testROIs() sensors.ROIs {
	return sensors.ROIs{
		HotCylinder:  sensors.ROI{X: 4, Y: 6, W: 8, H: 8},
		ColdCylinder: sensors.ROI{X: 20, Y: 6, W: 8, H: 8},
		Flame:        sensors.ROI{X: 5, Y: 16, W: 6, H: 6},
	}
}

// testCore returns a core whose batches land in *out.
func testCore(t testing.TB, mod func(*Opts)) (*core, *[]*Batch) {
	t.Helper()
	o := DefaultOpts()
	o.Hampel.Window = 0
	if mod != nil {
		mod(&o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var out []*Batch
	now := t0
	k := newCore(o, &counters{}, func() time.Time { return now }, func(b *Batch) { out = append(out, b) })
	return k, &out
}

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// readings flushes k and returns every reading of metric so far.
func readings(k *core, out *[]*Batch, metric string) []Reading {
	k.flush()
	var rs []Reading
	for _, b := range *out {
		for _, r := range b.Readings {
			if r.Metric == metric {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		v       float64
		wantQ   Quality
		wantV   float64
		counter func(*counters) uint64
	}{
		{"in range", 1200, Good, 1200, nil},
		{"above", 9000, Bad, 9000, func(c *counters) uint64 { return c.outOfRange[mRPM].Load() }},
		{"negative", -5, Bad, -5, func(c *counters) uint64 { return c.outOfRange[mRPM].Load() }},
		{"NaN", math.NaN(), Bad, 0, func(c *counters) uint64 { return c.nan.Load() }},
		{"Inf", math.Inf(1), Bad, 0, func(c *counters) uint64 { return c.nan.Load() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, out := testCore(t, nil)
			k.add(sample{mRPM, at(100 * time.Millisecond), tt.v, Good})
			k.closeAll()
			rs := readings(k, out, MetricRPM)
			if len(rs) != 1 {
				t.Fatalf("got %d rpm readings, want 1 (never dropped)", len(rs))
			}
			if rs[0].Quality != tt.wantQ || rs[0].Value != tt.wantV {
				t.Errorf("got %v %v, want %v %v", rs[0].Value, rs[0].Quality, tt.wantV, tt.wantQ)
			}
			if tt.counter != nil && tt.counter(k.c) != 1 {
				t.Errorf("counter = %d, want 1", tt.counter(k.c))
			}
		})
	}
}

func TestWindowAggregate(t *testing.T) {
	k, out := testCore(t, nil)
	for _, s := range []struct {
		d time.Duration
		v float64
		q Quality
	}{
		{100 * time.Millisecond, 100, Good},
		{400 * time.Millisecond, 300, Uncertain},
		{900 * time.Millisecond, 200, Good},
		{1100 * time.Millisecond, 50, Good},   // next window, within grace: W0 stays open
		{980 * time.Millisecond, 400, Good},   // late for W0 but W0 still open
		{1300 * time.Millisecond, 60, Good},   // past grace: W0 closes
		{500 * time.Millisecond, 999, Good},   // W0 closed: sent alone
		{3500 * time.Millisecond, 70, Good},   // closes W1 ([1s,2s)), skips [2s,3s)
		{3600 * time.Millisecond, 9999, Good}, // out of range: window becomes BAD, numbers from good ones
	} {
		k.add(sample{mRPM, at(s.d), s.v, s.q})
	}
	k.closeAll()
	rs := readings(k, out, MetricRPM)
	want := []Reading{
		{Time: t0, Value: 250, Min: 100, Max: 400, Last: 400, Count: 4, Quality: Uncertain},
		{Time: t0.Add(500 * time.Millisecond), Value: 999, Min: 999, Max: 999, Last: 999, Count: 1, Quality: Good},
		{Time: t0.Add(time.Second), Value: 55, Min: 50, Max: 60, Last: 60, Count: 2, Quality: Good},
		{Time: t0.Add(3 * time.Second), Value: 70, Min: 70, Max: 70, Last: 70, Count: 2, Quality: Bad},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d readings %+v, want %d", len(rs), rs, len(want))
	}
	for i, w := range want {
		g := rs[i]
		if !g.Time.Equal(w.Time) || g.Value != w.Value || g.Min != w.Min || g.Max != w.Max ||
			g.Last != w.Last || g.Count != w.Count || g.Quality != w.Quality || g.Unit != UnitRPM {
			t.Errorf("reading %d = %+v, want %+v", i, g, w)
		}
	}
	if k.c.late.Load() != 1 || k.c.windows.Load() != 3 {
		t.Errorf("late = %d, windows = %d; want 1, 3", k.c.late.Load(), k.c.windows.Load())
	}
}

func TestHampel(t *testing.T) {
	k, out := testCore(t, func(o *Opts) { o.Hampel = HampelOpts{Window: 5, Threshold: 3, MinDeviation: 1} })
	vals := []float64{100, 101, 99, 100, 102, 500 /* spike */, 100, 101, 200, 200, 200, 200 /* step */}
	for i, v := range vals {
		k.add(sample{mRPM, at(time.Duration(i) * time.Second), v, Good})
	}
	k.closeAll()
	rs := readings(k, out, MetricRPM)
	var got []float64
	for _, r := range rs {
		got = append(got, r.Value)
	}
	// 500 is rejected; the step to 200 is a spike twice, then accepted.
	want := []float64{100, 101, 99, 100, 102, 100, 101, 200, 200}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if n := k.c.spikes[mRPM].Load(); n != 3 {
		t.Errorf("spikes = %d, want 3", n)
	}
}

func TestEMA(t *testing.T) {
	k, out := testCore(t, func(o *Opts) { o.EMAAlpha = 0.5 })
	for i, v := range []float64{100, 200, 200} {
		k.add(sample{mRPM, at(time.Duration(i) * time.Second), v, Good})
	}
	k.closeAll()
	rs := readings(k, out, MetricRPM)
	want := []float64{100, 150, 175}
	for i, r := range rs {
		if r.Value != want[i] {
			t.Errorf("reading %d = %v, want %v", i, r.Value, want[i])
		}
	}
}

func TestDeadbandHeartbeat(t *testing.T) {
	k, out := testCore(t, func(o *Opts) {
		o.Metrics[MetricRPM] = MetricOpts{Min: 0, Max: 5000, Deadband: 5}
		o.Heartbeat = 10 * time.Second
	})
	vals := []float64{100, 102, 104, 106, 106, 106, 106, 106, 106, 106, 106, 106, 106, 106, 106, 106, 106}
	for i, v := range vals {
		k.add(sample{mRPM, at(time.Duration(i) * time.Second), v, Good})
	}
	k.add(sample{mRPM, at(17 * time.Second), math.NaN(), Good}) // quality change always goes out
	k.closeAll()
	var times []time.Duration
	for _, r := range readings(k, out, MetricRPM) {
		times = append(times, r.Time.Sub(t0))
	}
	want := []time.Duration{0, 3 * time.Second, 13 * time.Second, 17 * time.Second}
	if len(times) != len(want) {
		t.Fatalf("sent at %v, want %v", times, want)
	}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("sent at %v, want %v", times, want)
		}
	}
	if n := k.c.deadband.Load(); n != 14 {
		t.Errorf("suppressed %d, want 14", n)
	}
}

func TestBatchLimits(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Opts)
		n      int
		sizes  []int
		bySize bool
	}{
		{"count", func(o *Opts) { o.Batch.MaxReadings = 4 }, 10, []int{4, 4, 2}, false},
		{"bytes", func(o *Opts) { o.Batch.MaxBytes = 1024 }, 10, []int{3, 3, 3, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, out := testCore(t, tt.mod)
			for i := range tt.n {
				r := Reading{Metric: "rpm", Unit: "RPM", Time: t0.Add(time.Duration(i)), Count: 1}
				k.put(&r)
			}
			k.flush()
			if len(*out) != len(tt.sizes) {
				t.Fatalf("%d batches, want %d", len(*out), len(tt.sizes))
			}
			for i, b := range *out {
				if len(b.Readings) != tt.sizes[i] {
					t.Errorf("batch %d has %d readings, want %d", i, len(b.Readings), tt.sizes[i])
				}
				if tt.bySize {
					enc, _ := b.AppendBinary(nil)
					if len(enc) > 1024 {
						t.Errorf("batch %d encodes to %d bytes, over the limit", i, len(enc))
					}
				}
			}
		})
	}
}

func TestEngineStates(t *testing.T) {
	k, out := testCore(t, nil)
	stats := func(hot, cold, flame float64) *frameStats {
		return &frameStats{roi: [3]ROIStats{
			{Mean: hot, Min: hot, Max: hot, P90: hot, N: 64},
			{Mean: cold, Min: cold, Max: cold, P90: cold, N: 64},
			{Mean: flame, Min: flame, Max: flame, P90: flame, N: 36},
		}}
	}
	steps := []struct {
		hot, cold, flame, rpm float64
		want                  EngineState
	}{
		{22, 21, 25, 0, StateCold},
		{40, 22, 400, 0, StateHeating},
		{90, 25, 420, 10, StateHeating},
		{120, 30, 430, 300, StateRunning},
		{125, 30, 90, 0, StateStalled},    // flame still above off threshold: lit
		{125, 30, 420, 300, StateRunning}, // restarted
		{110, 30, 60, 250, StateFlameOut}, // flame gone, still turning
		{60, 30, 30, 0, StateFlameOut},    // still warm
		{35, 30, 25, 0, StateCold},        // cooled down
	}
	var want []string
	for i, s := range steps {
		ts := t0.Add(time.Duration(i) * 10 * time.Second)
		k.speed(&sensors.Speed{Time: ts, RPM: s.rpm})
		fs := stats(s.hot, s.cold, s.flame)
		fs.t = ts.UnixNano()
		k.frame(fs)
		if k.eng.state != s.want {
			t.Fatalf("step %d: state %v, want %v", i, k.eng.state, s.want)
		}
		if len(want) == 0 || want[len(want)-1] != s.want.String() {
			want = append(want, s.want.String())
		}
	}
	var got []string
	for _, r := range readings(k, out, MetricEngineState) {
		if len(got) == 0 || got[len(got)-1] != r.Text {
			got = append(got, r.Text)
		}
		if r.Value != float64(stateCode(r.Text)) {
			t.Errorf("%s has value %v", r.Text, r.Value)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if n := k.c.stateChanges.Load(); n != uint64(len(want)) {
		t.Errorf("state changes = %d, want %d", n, len(want))
	}
}

func stateCode(name string) EngineState {
	for i, n := range stateNames {
		if n == name {
			return EngineState(i)
		}
	}
	return 255
}

func TestStateChangeFlushesAtOnce(t *testing.T) {
	k, out := testCore(t, nil)
	k.speed(&sensors.Speed{Time: t0, RPM: 100})
	fs := &frameStats{t: at(100 * time.Millisecond), roi: [3]ROIStats{
		{Mean: 22, P90: 22, N: 64}, {Mean: 21, P90: 21, N: 64}, {Mean: 25, P90: 25, N: 36}}}
	k.frame(fs) // no flame but turning: flame_out
	if len(*out) != 1 {
		t.Fatalf("%d batches after a state change, want 1 flushed at once", len(*out))
	}
	last := (*out)[0].Readings[len((*out)[0].Readings)-1]
	if last.Metric != MetricEngineState || last.Text != "flame_out" {
		t.Fatalf("last reading %+v, want the engine_state event", last)
	}
}

func newTestPipeline(t *testing.T, mod func(*Opts)) (*Pipeline, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.New(t0)
	o := DefaultOpts()
	o.Clock = clk
	if mod != nil {
		mod(&o)
	}
	p, err := New(testROIs(), &o)
	if err != nil {
		t.Fatal(err)
	}
	return p, clk
}

func TestRunIdleWindowClosesByClock(t *testing.T) {
	p, clk := newTestPipeline(t, func(o *Opts) { o.Batch.MaxLatency = 500 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *Batch, 4)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	if err := p.HandleSpeed(ctx, sensors.Speed{Time: t0.Add(200 * time.Millisecond), RPM: 600}); err != nil {
		t.Fatal(err)
	}
	// No further reading: the clock must close [0,1s) at 1.25s and the
	// batch must leave 500ms later.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b := <-out:
			if len(b.Readings) != 1 || b.Readings[0].Metric != MetricRPM || b.Readings[0].Value != 600 {
				t.Fatalf("batch %+v", b.Readings)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, ok := <-out; ok {
				t.Fatal("out not closed after Run returned")
			}
			return
		case <-deadline:
			t.Fatalf("no batch; stats %+v", p.Stats())
		case <-time.After(5 * time.Millisecond):
			clk.Advance(100 * time.Millisecond)
		}
	}
}

func TestRunShutdownFlushes(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch) // unbuffered: the consumer reads until closed
	var got []Reading
	consumed := make(chan struct{})
	go func() {
		for b := range out {
			got = append(got, b.Readings...)
		}
		close(consumed)
	}()
	for i := range 5 {
		if err := p.HandleSpeed(ctx, sensors.Speed{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), RPM: 500}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	cancel()
	start := time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-consumed
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("shutdown took %v", el)
	}
	if len(got) != 1 || got[0].Count != 5 || got[0].Value != 500 {
		t.Fatalf("after shutdown got %+v, want the open window's aggregate of 5", got)
	}
}

func TestRunShutdownTimeout(t *testing.T) {
	p, _ := newTestPipeline(t, func(o *Opts) { o.FlushTimeout = 50 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.HandleSpeed(ctx, sensors.Speed{Time: t0, RPM: 500}); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := p.Run(ctx, make(chan *Batch)) // nobody reads
	if !errors.Is(err, ErrFlushTimeout) {
		t.Fatalf("Run = %v, want ErrFlushTimeout", err)
	}
	if s := p.Stats(); s.BatchesDropped != 1 || s.ReadingsDropped != 1 {
		t.Errorf("dropped %d batches, %d readings; want 1, 1", s.BatchesDropped, s.ReadingsDropped)
	}
}

func TestFramesEndToEnd(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 64)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	var f sensors.Frame
	for i := range 8 {
		ts := t0.Add(time.Duration(i) * 250 * time.Millisecond)
		fillFrame(&f, ts, 25)
		if i == 4 {
			// recalibrate mid-stream: the flame region moves
			r := testROIs()
			r.Flame = sensors.ROI{X: 0, Y: 18, W: 4, H: 4}
			if err := p.SetROIs(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.HandleFrame(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	metrics := map[string]Reading{}
	for b := range out {
		for _, r := range b.Readings {
			metrics[r.Metric] = r
		}
	}
	for _, m := range Metrics() {
		if m == MetricRPM {
			continue
		}
		if _, ok := metrics[m]; !ok {
			t.Errorf("no %s reading", m)
		}
	}
	if r := metrics["hot_cylinder_c"]; r.Value != 25 || r.Quality != Good || r.Count != 4 {
		t.Errorf("hot_cylinder_c = %+v", r)
	}
	if r := metrics["flame_pixels"]; r.Last != 16 {
		t.Errorf("flame_pixels last = %v, want 16 after SetROIs", r.Last)
	}
	if r := metrics[MetricEngineState]; r.Text != "cold" {
		t.Errorf("engine_state = %+v, want cold", r)
	}
	st := p.Stats()
	if st.Frames != 8 || st.ReadingsIn != 8*18 || len(st.Latest) == 0 {
		t.Errorf("stats %+v", st)
	}
}

func fillFrame(f *sensors.Frame, ts time.Time, v float64) {
	f.Time = ts
	for i := range f.To {
		f.To[i], f.Valid[i], f.Bad[i], f.Updated[i] = v, true, false, ts
	}
}

func TestRegionStats(t *testing.T) {
	r := sensors.ROI{X: 0, Y: 0, W: 10, H: 1} // pixels 0..9
	o := ROIOpts{MinValid: 0.5, MaxPixelAge: time.Second}
	tests := []struct {
		name string
		edit func(f *sensors.Frame)
		want ROIStats
	}{
		{"uniform", func(*sensors.Frame) {}, ROIStats{Mean: 20, Min: 20, Max: 20, P90: 20, N: 10}},
		{"ramp", func(f *sensors.Frame) {
			for i := range 10 {
				f.To[i] = float64(i + 1)
			}
		}, ROIStats{Mean: 5.5, Min: 1, Max: 10, P90: 9, N: 10}},
		{"hot pixel moves max not p90", func(f *sensors.Frame) { f.To[3] = 300 }, ROIStats{Mean: 48, Min: 20, Max: 300, P90: 20, N: 10}},
		{"broken pixel skipped", func(f *sensors.Frame) { f.To[3], f.Bad[3] = 300, true }, ROIStats{Mean: 20, Min: 20, Max: 20, P90: 20, N: 9}},
		{"stale pixels uncertain", func(f *sensors.Frame) {
			f.Updated[0], f.Updated[1] = t0.Add(-2*time.Second), time.Time{}
		}, ROIStats{Mean: 20, Min: 20, Max: 20, P90: 20, N: 8, Quality: Uncertain}},
		{"NaN skipped", func(f *sensors.Frame) { f.To[0] = math.NaN() }, ROIStats{Mean: 20, Min: 20, Max: 20, P90: 20, N: 9, Quality: Uncertain}},
		{"too few bad", func(f *sensors.Frame) {
			for i := range 6 {
				f.Valid[i] = false
			}
		}, ROIStats{Mean: 20, Min: 20, Max: 20, P90: 20, N: 4, Quality: Bad}},
		{"none", func(f *sensors.Frame) {
			for i := range 10 {
				f.Valid[i] = false
			}
		}, ROIStats{Quality: Bad}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f sensors.Frame
			fillFrame(&f, t0, 20)
			tt.edit(&f)
			if got := RegionStats(&f, r, o); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOptsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Opts)
		key  string
	}{
		{"window", func(o *Opts) { o.Window = -time.Second }, "window"},
		{"grace", func(o *Opts) { o.WindowGrace = 2 * time.Second }, "window_grace"},
		{"hampel even", func(o *Opts) { o.Hampel.Window = 4 }, "hampel.window"},
		{"unknown metric", func(o *Opts) { o.Metrics["rpmm"] = MetricOpts{} }, "metrics.rpmm"},
		{"bytes", func(o *Opts) { o.Batch.MaxBytes = 200 << 10 }, "batch.max_bytes"},
		{"flame hysteresis", func(o *Opts) { o.Engine.FlameOffC = 500 }, "engine.flame_off_c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOpts()
			tt.mod(&o)
			err := o.Validate()
			var oe *OptError
			if !errors.As(err, &oe) || oe.Key != tt.key || !errors.Is(err, ErrOpts) {
				t.Fatalf("Validate = %v, want an error for %s", err, tt.key)
			}
		})
	}
	o := DefaultOpts()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	k, out := testCore(t, nil)
	var f sensors.Frame
	fillFrame(&f, t0, 30)
	for i := range 20 {
		ts := t0.Add(time.Duration(i) * 125 * time.Millisecond)
		fillFrame(&f, ts, 30+float64(i))
		fs := frameStats{t: ts.UnixNano()}
		rois := testROIs()
		for j, n := range rois.Named() {
			fs.roi[j] = RegionStats(&f, n.ROI, k.o.ROI)
		}
		k.frame(&fs)
		k.speed(&sensors.Speed{Time: ts, RPM: 400})
	}
	k.closeAll()
	k.flush()
	for _, b := range *out {
		enc, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var d Batch
		if err := d.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if len(d.Readings) != len(b.Readings) {
			t.Fatalf("decoded %d readings, want %d", len(d.Readings), len(b.Readings))
		}
		for i := range d.Readings {
			if a, w := d.Readings[i], b.Readings[i]; a.Metric != w.Metric || a.Value != w.Value || !a.Time.Equal(w.Time) || a.Count != w.Count {
				t.Fatalf("reading %d: %+v, want %+v", i, a, w)
			}
		}
	}
}

func TestClockStepBack(t *testing.T) {
	k, out := testCore(t, nil)
	k.add(sample{mRPM, at(time.Hour), 100, Good})
	k.add(sample{mRPM, at(time.Hour + 100*time.Millisecond), 100, Good})
	// NTP steps the clock back an hour: aggregate again instead of
	// sending every sample alone.
	for i := range 5 {
		k.add(sample{mRPM, at(time.Duration(i) * 100 * time.Millisecond), 200, Good})
	}
	k.closeAll()
	rs := readings(k, out, MetricRPM)
	if len(rs) != 2 || rs[0].Count != 2 || rs[1].Count != 5 || !rs[1].Time.Equal(t0) {
		t.Fatalf("got %+v", rs)
	}
	if k.c.timeJumps.Load() != 1 || k.c.late.Load() != 0 {
		t.Errorf("jumps %d late %d, want 1, 0", k.c.timeJumps.Load(), k.c.late.Load())
	}
}

func TestRunScaledClock(t *testing.T) {
	clk := clock.NewScaled(t0, 200)
	o := DefaultOpts()
	o.Clock = clk
	p, err := New(testROIs(), &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *Batch, 4)
	go func() { _ = p.Run(ctx, out) }()
	start := time.Now()
	if err := p.HandleSpeed(ctx, sensors.Speed{Time: clk.Now(), RPM: 900}); err != nil {
		t.Fatal(err)
	}
	// Window end + grace + batch latency is at most 3.25 virtual seconds:
	// about 16 ms of wall time at 200x.
	select {
	case b := <-out:
		if b.Readings[0].Value != 900 {
			t.Fatalf("batch %+v", b.Readings)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("took %v of wall time", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no batch in accelerated time; stats %+v", p.Stats())
	}
}

// TestClosedWindowIsItsOwnBatch: a window is handed on the moment it closes,
// alone, without waiting for MaxLatency and without the next window.
func TestClosedWindowIsItsOwnBatch(t *testing.T) {
	k, out := testCore(t, func(o *Opts) { o.Batch.MaxLatency = 10 * time.Minute })
	k.add(sample{mRPM, at(100 * time.Millisecond), 100, Good})
	k.add(sample{mRPM, at(900 * time.Millisecond), 200, Good})
	if len(*out) != 0 {
		t.Fatalf("%d batches before the window closed", len(*out))
	}
	k.add(sample{mRPM, at(1300 * time.Millisecond), 300, Good}) // past grace: [0,1s) closes
	if len(*out) != 1 || len((*out)[0].Readings) != 1 || !(*out)[0].Readings[0].Time.Equal(t0) {
		t.Fatalf("after the close: batches %+v, want one batch with the [0,1s) aggregate", *out)
	}
	k.add(sample{mRPM, at(3500 * time.Millisecond), 400, Good}) // closes [1s,2s), skips [2s,3s)
	if len(*out) != 2 || len((*out)[1].Readings) != 1 || !(*out)[1].Readings[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("second window: batches %+v, want it in a batch of its own", *out)
	}
	// The clock closes the last window at its end plus grace.
	k.tick(t0.Add(4*time.Second + 250*time.Millisecond))
	if len(*out) != 3 || !(*out)[2].Readings[0].Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("clock close: %d batches, want 3", len(*out))
	}
}

// TestRunClosedWindowLeavesAtOnce: with a MaxLatency far longer than the
// window, the clock-closed window still leaves at its end plus grace.
func TestRunClosedWindowLeavesAtOnce(t *testing.T) {
	p, clk := newTestPipeline(t, func(o *Opts) { o.Batch.MaxLatency = 10 * time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *Batch, 4)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	if err := p.HandleSpeed(ctx, sensors.Speed{Time: t0.Add(200 * time.Millisecond), RPM: 600}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b := <-out:
			if len(b.Readings) != 1 || b.Readings[0].Value != 600 {
				t.Fatalf("batch %+v", b.Readings)
			}
			if got := clk.Now().Sub(t0); got > 1300*time.Millisecond {
				t.Errorf("window [0,1s) left at %v, want by 1.25 s (end plus grace)", got)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			return
		case <-deadline:
			t.Fatalf("no batch; stats %+v", p.Stats())
		case <-time.After(5 * time.Millisecond):
			clk.Advance(50 * time.Millisecond)
		}
	}
}

func TestBatchRestartRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, r := range []*Restart{nil, {}, {PreviousSeq: 12345, PreviousTime: t0.Add(1500 * time.Millisecond)}} {
		b := Batch{Restart: r, Readings: []Reading{{Seq: 12346, Metric: "rpm", Time: t0.Add(4 * time.Second), Value: 1, Count: 1}}}
		enc, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Decode into a batch that carried an announcement before: a
		// reused Batch must not keep a stale one.
		d := Batch{Restart: &Restart{PreviousSeq: 1}}
		if err := d.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		switch {
		case r == nil && d.Restart != nil:
			t.Errorf("no restart encoded, decoded %+v", d.Restart)
		case r != nil && (d.Restart == nil || d.Restart.PreviousSeq != r.PreviousSeq || !d.Restart.PreviousTime.Equal(r.PreviousTime) || d.Restart.PreviousTime.IsZero() != r.PreviousTime.IsZero()):
			t.Errorf("restart %+v decoded as %+v", r, d.Restart)
		}
		if len(d.Readings) != 1 || d.Readings[0].Seq != 12346 {
			t.Errorf("readings %+v", d.Readings)
		}
		if r == nil && enc[0] != batchFormat {
			t.Errorf("a batch without a restart is written in format %d, want %d (unchanged)", enc[0], batchFormat)
		}
	}
	if err := new(Batch).UnmarshalBinary([]byte{batchFormatRestart, 0x80}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated restart announcement: %v, want ErrCorrupt", err)
	}
}
