package agent

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSimFaults injects the simulator's sensor faults one after the other
// in one run and follows them through the whole agent: while a camera fault
// lasts no temperature reading is GOOD (they are BAD or missing), the
// driver counts it on /metrics, the flywheel speed keeps coming, and once
// the fault ends GOOD temperatures return.
func TestSimFaults(t *testing.T) {
	t.Parallel()
	const (
		speedup = 40
		lead    = 20 * time.Second // healthy time before the first fault
		length  = 15 * time.Second // each fault's duration
		gap     = 20 * time.Second // healthy time after each fault
	)
	faults := []struct {
		kind    string
		counter string // a /metrics counter that must grow
	}{
		{"i2c_nack", "stirling_camera_nacks_total"},
		{"corrupt_frames", "stirling_camera_corrupt_frames_total"},
		{"camera_unplugged", "stirling_camera_resets_total"},
		{"stuck_new_data", "stirling_camera_frame_errors_total"},
		{"i2c_timeout", "stirling_camera_timeouts_total"},
	}
	type window struct {
		kind     string
		from, to time.Duration // sensor time after start
	}
	var (
		list    []any
		windows []window
	)
	at := lead
	for _, f := range faults {
		list = append(list, map[string]any{"kind": f.kind, "at": at.String(), "for": length.String()})
		windows = append(windows, window{f.kind, at, at + length})
		at += length + gap
	}
	end := at

	dir := t.TempDir()
	c := baseConfig(dir, speedup)
	c.set("sensors.sim.faults", list)
	cfg := c.write(t, dir)
	started := time.Now()
	p := start(t, cfg, startOpts{args: []string{"--stop-after", end.String()}})
	p.waitReady(15 * time.Second)

	// Sample the counters while it runs; the agent exits by itself.
	var last map[string]float64
	for {
		if m, _, err := p.metrics(); err == nil {
			last = m
		}
		select {
		case <-p.done:
		case <-time.After(200 * time.Millisecond):
			continue
		}
		break
	}
	if code := p.wait(time.Second); code != 0 {
		t.Fatalf("exit code %d after --stop-after; want 0", code)
	}
	t.Logf("%v of sensor time in %v", end, time.Since(started).Round(time.Millisecond))
	for _, f := range faults {
		if last[f.counter] == 0 {
			t.Errorf("%s: %s is 0 after the fault", f.kind, f.counter)
		}
	}

	recs, _ := readRecords(t, filepath.Join(dir, "out.jsonl"))
	if len(recs) == 0 {
		t.Fatal("no readings")
	}
	type sample struct {
		at      time.Duration // sensor time after the first reading
		metric  string
		quality string
	}
	var (
		t0    time.Time
		times []time.Time
	)
	for _, r := range recs {
		ts, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			t.Fatalf("reading %d: time %q: %v", r.Seq, r.Time, err)
		}
		if t0.IsZero() || ts.Before(t0) {
			t0 = ts
		}
		times = append(times, ts)
	}
	samples := make([]sample, len(recs))
	for i, r := range recs {
		samples[i] = sample{at: times[i].Sub(t0), metric: r.Metric, quality: r.Quality}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].at < samples[j].at })

	isTemp := func(m string) bool {
		return m == "hot_cylinder_c" || m == "cold_cylinder_c" || m == "flame_c"
	}
	count := func(from, to time.Duration, match func(sample) bool) int {
		n := 0
		for _, s := range samples {
			if s.at >= from && s.at < to && match(s) {
				n++
			}
		}
		return n
	}
	goodTemp := func(s sample) bool { return isTemp(s.metric) && s.quality == "GOOD" }
	if n := count(0, lead, goodTemp); n == 0 {
		t.Fatalf("no GOOD temperature before the first fault; metrics seen: %s", metricNames(recs))
	}
	for _, w := range windows {
		// The first readings of a fault may still be from frames taken
		// before it; the last ones are settled by then.
		inside := count(w.from+3*time.Second, w.to-time.Second, goodTemp)
		if inside > 0 {
			t.Errorf("%s: %d GOOD temperature readings during the fault (%v..%v)", w.kind, inside, w.from, w.to)
		}
		notGood := count(w.from+3*time.Second, w.to-time.Second, func(s sample) bool { return isTemp(s.metric) && s.quality != "GOOD" })
		rpm := count(w.from, w.to, func(s sample) bool { return s.metric == "rpm" })
		after := count(w.to, w.to+gap, goodTemp)
		t.Logf("%-16s during: %d GOOD, %d BAD/UNCERTAIN temperatures, %d rpm readings; after: %d GOOD temperatures",
			w.kind, inside, notGood, rpm, after)
		if rpm == 0 {
			t.Errorf("%s: no rpm reading during a camera fault; the tachometer must not depend on the camera", w.kind)
		}
		if after == 0 {
			t.Errorf("%s: no GOOD temperature within %v after the fault ended", w.kind, gap)
		}
	}
}

func metricNames(recs []record) string {
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Metric] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
