package tachometer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// sliceSource is a Source for filter tests; Run tests use timedSource.
type sliceSource struct{}

func (sliceSource) ReadEdges(ctx context.Context, _ []sensors.Edge) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestFilterAccuracy(t *testing.T) {
	tests := []struct {
		name     string
		w        wheel
		markOnly bool
		settle   int // speeds to skip before the 0.1% bound applies
		check    func(t *testing.T, st Stats)
	}{
		{name: "50rpm", w: wheel{rpm: 50, jitter: 5 * time.Microsecond}},
		{name: "300rpm", w: wheel{rpm: 300, jitter: 5 * time.Microsecond}},
		{name: "1000rpm", w: wheel{rpm: 1000, jitter: 5 * time.Microsecond}},
		{name: "3000rpm", w: wheel{rpm: 3000, jitter: 5 * time.Microsecond}},
		// 20 us is a loaded Pi's interrupt latency; one period alone is then
		// good to ~0.2%, so the bound holds once Average periods are in.
		{name: "3000rpm-jitter20us", w: wheel{rpm: 3000, jitter: 20 * time.Microsecond}, settle: 8},
		{name: "chatter", w: wheel{rpm: 1000, jitter: 5 * time.Microsecond, chatter: 3},
			check: func(t *testing.T, st Stats) {
				if st.Glitches == 0 {
					t.Error("chatter left no glitches")
				}
			}},
		{name: "missed-marks", w: wheel{rpm: 600, jitter: 5 * time.Microsecond, miss: 10},
			check: func(t *testing.T, st Stats) {
				if st.Outliers == 0 {
					t.Error("missed marks left no outliers")
				}
			}},
		// A fifth of the marks missing, at random: runs of misses and
		// misses right after a restart included.
		{name: "missed-marks-random-20pc", w: wheel{rpm: 1200, jitter: 5 * time.Microsecond, missRand: 0.2, seed: 3},
			check: func(t *testing.T, st Stats) {
				if st.Outliers < 20 {
					t.Errorf("outliers %d", st.Outliers)
				}
			}},
		{name: "spikes", w: wheel{rpm: 600, jitter: 5 * time.Microsecond, spikes: true},
			check: func(t *testing.T, st Stats) {
				if st.Outliers == 0 {
					t.Error("extra marks left no outliers")
				}
			}},
		{name: "overflow", w: wheel{rpm: 2000, jitter: 5 * time.Microsecond, gapEvery: 25},
			check: func(t *testing.T, st Stats) {
				if st.Overflows == 0 || st.Lost != 3*st.Overflows {
					t.Errorf("overflows %d lost %d, want 3 lost per overflow", st.Overflows, st.Lost)
				}
			}},
		{name: "mark-only-chatter", markOnly: true, w: wheel{rpm: 1500, jitter: 5 * time.Microsecond, chatter: 2, markOnly: true},
			check: func(t *testing.T, st Stats) {
				if st.Glitches == 0 {
					t.Error("mark-only chatter left no glitches")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.widthDeg = 10
			revs := 200
			if tt.w.missRand > 0 {
				revs = 3000
			}
			if tt.w.rpm < 100 {
				revs = 30
			}
			tach, ss, es := runFilter(t, nil, tt.markOnly, tt.w.edges(time.Second, revs))
			if len(ss) < revs/3 {
				t.Fatalf("%d speeds from %d revolutions", len(ss), revs)
			}
			if worst := worstError(ss[tt.settle:], tt.w.rpm); worst > 0.001 {
				t.Errorf("worst error %.4f%%, want <= 0.1%%", worst*100)
			}
			if len(es) != 1 || es[0].Kind != Start {
				t.Errorf("events %+v, want one start", es)
			}
			st := tach.Stats()
			if tt.check != nil {
				tt.check(t, st)
			}
			t.Logf("speeds %d worst %.4f%% stats %+v", len(ss), worstError(ss[tt.settle:], tt.w.rpm)*100, st)
		})
	}
}

func TestFilterStall(t *testing.T) {
	tests := []struct {
		name      string
		rpm       float64
		stallTime time.Duration // after the last mark
	}{
		{"fast: the timeout", 1200, 2 * time.Second},
		{"slow: three periods", 30, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wheel{rpm: tt.rpm, widthDeg: 10}
			edges := w.edges(time.Second, 20)
			lastMark := edges[len(edges)-2].Wall
			// restart later: two revolutions at the same speed
			later := w.edges(lastMark.Sub(testOrigin)+time.Minute, 3)
			for i := range later {
				later[i].Seq += edges[len(edges)-1].Seq
			}
			// tick once just before the deadline, once after it
			tach, ss, es := runFilter(t, nil, false, edges,
				lastMark.Add(tt.stallTime-time.Millisecond), lastMark.Add(tt.stallTime+time.Second))
			var zero *sensors.Speed
			for i := range ss {
				if ss[i].RPM == 0 {
					zero = &ss[i]
					break
				}
			}
			if zero == nil {
				t.Fatal("no zero speed after the marks stopped")
			}
			if !zero.Time.Equal(lastMark.Add(tt.stallTime)) {
				t.Errorf("zero at %v after the last mark, want %v", zero.Time.Sub(lastMark), tt.stallTime)
			}
			if len(es) != 2 || es[1].Kind != Stop || !es[1].Time.Equal(zero.Time) {
				t.Errorf("events %+v, want start then stop at the zero", es)
			}
			if st := tach.Stats(); st.Stalls != 1 {
				t.Errorf("stalls %d", st.Stalls)
			}

			// The stall is also found from the next mark when no tick came.
			all := append(append([]sensors.Edge{}, edges...), later...)
			_, ss, es = runFilter(t, nil, false, all)
			kinds := ""
			for _, e := range es {
				kinds += string(e.Kind) + " "
			}
			if kinds != "start stop start " {
				t.Fatalf("events %q, want start stop start", kinds)
			}
			if !es[1].Time.Equal(lastMark.Add(tt.stallTime)) {
				t.Errorf("stop at %v after the last mark, want %v", es[1].Time.Sub(lastMark), tt.stallTime)
			}
			if !es[2].Time.Equal(later[2].Wall) {
				t.Errorf("restart at %v, want the second mark after the stall %v", es[2].Time, later[2].Wall)
			}
			if worst := worstError(ss, tt.rpm); worst > 1e-6 {
				t.Errorf("worst error %g", worst)
			}
		})
	}
}

func TestFilterMarksPerRev(t *testing.T) {
	// Four marks per revolution at 750 RPM look like one mark at 3000.
	w := wheel{rpm: 3000, widthDeg: 10, jitter: 5 * time.Microsecond}
	o := DefaultOpts()
	o.MarksPerRev = 4
	_, ss, _ := runFilter(t, &o, false, w.edges(time.Second, 100))
	if len(ss) < 90 || worstError(ss, 750) > 0.001 {
		t.Errorf("%d speeds, worst error %g at 4 marks per revolution", len(ss), worstError(ss, 750))
	}
}

func TestFilterIdleZeros(t *testing.T) {
	o := DefaultOpts()
	o.IdleInterval = time.Second
	_, ss, _ := runFilter(t, &o, false, nil,
		testOrigin.Add(500*time.Millisecond), testOrigin.Add(1500*time.Millisecond), testOrigin.Add(3200*time.Millisecond))
	if len(ss) != 2 || !ss[0].Time.Equal(testOrigin.Add(time.Second)) || !ss[1].Time.Equal(testOrigin.Add(3*time.Second)) {
		t.Errorf("idle zeros %+v, want at 1 s and 3 s", ss)
	}
}

func TestFilterPendingMarkConfirmedByTime(t *testing.T) {
	// The line stays in the mark state (wheel stopped on the mark): the
	// leading edge still counts once GlitchMin has passed.
	w := wheel{rpm: 600, widthDeg: 10}
	edges := w.edges(time.Second, 5)
	edges = edges[:len(edges)-1] // the last trailing edge never comes
	lastLead := edges[len(edges)-1]
	_, ss, _ := runFilter(t, nil, false, edges, lastLead.Wall.Add(time.Millisecond))
	if got := ss[len(ss)-1]; !got.Time.Equal(lastLead.Wall) || worstError(ss, 600) > 1e-6 {
		t.Errorf("last speed %+v, want 600 rpm at %v", got, lastLead.Wall)
	}
}

func TestOptsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Opts)
		key  string
	}{
		{"defaults", func(*Opts) {}, ""},
		{"min_rpm", func(o *Opts) { o.MinRPM = -1 }, "min_rpm"},
		{"max_rpm", func(o *Opts) { o.MaxRPM = 10 }, "max_rpm"},
		{"stall_timeout", func(o *Opts) { o.StallTimeout = -time.Second }, "stall_timeout"},
		{"glitch_min", func(o *Opts) { o.GlitchMin = 10 * time.Millisecond }, "glitch_min"},
		{"average", func(o *Opts) { o.Average = 1000 }, "average"},
		{"mark_edge", func(o *Opts) { o.MarkEdge = 7 }, "mark_edge"},
		{"marks_per_rev", func(o *Opts) { o.MarksPerRev = -2 }, "marks_per_rev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOpts()
			tt.mod(&o)
			_, err := New(sliceSource{}, &o)
			switch {
			case tt.key == "" && err != nil:
				t.Fatal(err)
			case tt.key != "" && (!errors.Is(err, ErrOpts) || !contains(err.Error(), tt.key)):
				t.Fatalf("error %v, want ErrOpts naming %s", err, tt.key)
			}
		})
	}
	if _, err := New(nil, nil); !errors.Is(err, ErrOpts) {
		t.Errorf("nil source: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestParse(t *testing.T) {
	for _, s := range []string{"rising", "falling"} {
		if e, err := ParseEdge(s); err != nil || e.String() != s {
			t.Errorf("ParseEdge(%q) = %v, %v", s, e, err)
		}
	}
	for _, s := range []string{"pull_up", "pull_down", "disabled", "as_is"} {
		if b, err := ParseBias(s); err != nil || b.String() != s {
			t.Errorf("ParseBias(%q) = %v, %v", s, b, err)
		}
	}
	if _, err := ParseEdge("both"); !errors.Is(err, ErrOpts) {
		t.Errorf("ParseEdge(both): %v", err)
	}
	if _, err := ParseBias("up"); !errors.Is(err, ErrOpts) {
		t.Errorf("ParseBias(up): %v", err)
	}
}
