package tachometer

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// wheel generates the edges of a flywheel at constant speed with one mark
// per revolution, the way the kernel would report them.
type wheel struct {
	rpm      float64
	widthDeg float64       // mark width
	jitter   time.Duration // sigma of the timestamp noise
	chatter  int           // extra short pulses after every edge
	miss     int           // drop every miss-th mark (both edges); 0 none
	missRand float64       // drop each mark with this probability
	spikes   bool          // a 300 us pulse in the middle of every 7th revolution
	gapEvery int           // skip sequence numbers (lost edges) every gapEvery-th mark
	markOnly bool          // only the leading edges
	seed     uint64
}

var testOrigin = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// edges returns revs revolutions of edges starting at mono start.
func (w wheel) edges(start time.Duration, revs int) []sensors.Edge {
	rng := rand.New(rand.NewPCG(w.seed, 7))
	period := 60e9 / w.rpm
	width := time.Duration(period * w.widthDeg / 360)
	var out []sensors.Edge
	seq := uint64(0)
	add := func(mono time.Duration, rising bool) {
		seq++
		out = append(out, sensors.Edge{Mono: mono, Wall: testOrigin.Add(mono), Rising: rising, Seq: seq, Precise: true})
	}
	noise := func() time.Duration { return time.Duration(rng.NormFloat64() * float64(w.jitter)) }
	for i := range revs {
		t0 := start + time.Duration(float64(i)*period)
		if w.miss > 0 && i%w.miss == w.miss-1 {
			continue
		}
		if w.missRand > 0 && rng.Float64() < w.missRand {
			continue
		}
		if w.gapEvery > 0 && i%w.gapEvery == w.gapEvery-1 {
			seq += 3
		}
		lead := t0 + noise()
		add(lead, true)
		if w.markOnly {
			for c := range w.chatter {
				add(lead+time.Duration(c+1)*7*time.Microsecond, true)
			}
			continue
		}
		for c := range w.chatter {
			add(lead+time.Duration(4*c+3)*time.Microsecond, false)
			add(lead+time.Duration(4*c+6)*time.Microsecond, true)
		}
		trail := t0 + width + noise()
		add(trail, false)
		for c := range w.chatter {
			add(trail+time.Duration(4*c+3)*time.Microsecond, true)
			add(trail+time.Duration(4*c+6)*time.Microsecond, false)
		}
		if w.spikes && i%7 == 3 {
			mid := t0 + time.Duration(period/2)
			add(mid, true)
			add(mid+300*time.Microsecond, false)
		}
	}
	return out
}

// markOnlySrc flags a test source as mark-only.
type markOnlySrc struct{ Source }

func (markOnlySrc) MarkOnly() bool { return true }

// runFilter feeds edges to a fresh filter and returns the speeds and events.
func runFilter(t *testing.T, o *Opts, markOnly bool, edges []sensors.Edge, tickAt ...time.Time) (*Tach, []sensors.Speed, []Event) {
	t.Helper()
	var src Source = sliceSource{}
	if markOnly {
		src = markOnlySrc{src}
	}
	tach, err := New(src, o)
	if err != nil {
		t.Fatal(err)
	}
	speeds := make(chan sensors.Speed, len(edges)+len(tickAt)+16)
	events := make(chan Event, len(edges)+16)
	f := newFilter(tach, testOrigin, speeds, events)
	for _, e := range edges {
		f.edge(e)
	}
	for _, now := range tickAt {
		f.tick(now)
	}
	close(speeds)
	close(events)
	var ss []sensors.Speed
	for s := range speeds {
		ss = append(ss, s)
	}
	var es []Event
	for e := range events {
		es = append(es, e)
	}
	return tach, ss, es
}

// worstError is the largest relative error of the non-zero speeds.
func worstError(ss []sensors.Speed, rpm float64) float64 {
	worst := 0.0
	for _, s := range ss {
		if s.RPM == 0 {
			continue
		}
		worst = max(worst, math.Abs(s.RPM-rpm)/rpm)
	}
	return worst
}
