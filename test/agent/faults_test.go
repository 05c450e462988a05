package agent

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// expect says what a fault must do to the readings.
type expect int

const (
	// cameraDown: no GOOD temperature during the fault, GOOD ones after,
	// and the flywheel speed keeps coming.
	cameraDown expect = iota
	// speedNoisy: the tachometer filters the noise: the speed readings
	// during the fault stay near the true speed, and temperatures stay GOOD.
	speedNoisy
	// speedDead: no edges at all: the speed reads 0 (or not GOOD) once the
	// stall timeout passed, and GOOD non-zero again after the fault.
	speedDead
)

// faultCase is one injected fault and the counter that must count it.
type faultCase struct {
	kind    string
	rate    float64 // 0: the simulator's default
	counter string  // a /metrics counter that must grow during the fault
	expect  expect
}

// TestCameraFaults: the simulated camera's faults followed through the
// whole agent (driver, pipeline, spool, file publisher).
func TestCameraFaults(t *testing.T) {
	t.Parallel()
	runFaults(t, "run", 50, 45*time.Second, []faultCase{
		{kind: "i2c_nack", counter: "stirling_camera_nacks_total", expect: cameraDown},
		{kind: "corrupt_frames", counter: "stirling_camera_corrupt_frames_total", expect: cameraDown},
		{kind: "camera_unplugged", counter: "stirling_camera_resets_total", expect: cameraDown},
		{kind: "stuck_new_data", counter: "stirling_camera_timeouts_total", expect: cameraDown}, // waits for new data that timed out
		{kind: "i2c_timeout", counter: "stirling_camera_bus_errors_total", expect: cameraDown},  // a bus timeout is a bus error
	})
}

// TestTachometerFaults: the simulated GPIO line's faults, on an engine at a
// steady 1200 RPM.
func TestTachometerFaults(t *testing.T) {
	t.Parallel()
	runFaults(t, "steady", 40, 15*time.Second, []faultCase{
		{kind: "missed_marks", rate: 0.2, counter: "stirling_sim_gpio_missed_marks_total", expect: speedNoisy},
		{kind: "chatter", counter: "stirling_tach_glitches_total", expect: speedNoisy},
		{kind: "edge_glitch", counter: "stirling_tach_glitches_total", expect: speedNoisy},
		{kind: "gpio_overflow", rate: 0.05, counter: "stirling_tach_overflows_total", expect: speedNoisy},
		{kind: "gpio_unplugged", counter: "stirling_tach_stalls_total", expect: speedDead},
	})
}

const steadyRPM = 1200

// runFaults runs the simulated engine with the faults one after the other,
// each for 15 s of sensor time followed by gap of healthy time, then checks
// the file publisher's readings and the counters.
func runFaults(t *testing.T, scenario string, speedup float64, gap time.Duration, faults []faultCase) {
	t.Helper()
	const (
		lead   = 30 * time.Second // healthy time before the first fault
		length = 15 * time.Second // each fault's duration
	)
	type window struct {
		faultCase
		from, to time.Duration // sensor time after start
	}
	var (
		list    []any
		windows []window
	)
	at := lead
	for _, f := range faults {
		e := map[string]any{"kind": f.kind, "at": at.String(), "for": length.String()}
		if f.rate > 0 {
			e["rate"] = f.rate
		}
		list = append(list, e)
		windows = append(windows, window{f, at, at + length})
		at += length + gap
	}
	end := at

	dir := t.TempDir()
	c := baseConfig(dir, speedup)
	c.set("sensors.sim.scenario", scenario)
	c.set("sensors.sim.steady_rpm", steadyRPM)
	c.set("sensors.sim.faults", list)
	started := time.Now()
	p := start(t, c.write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)

	// Sample the counters against the simulator's engine time while the
	// file publisher catches up with the end of the schedule.
	type snap struct {
		engine time.Duration
		m      map[string]float64
	}
	var snaps []snap
	out := filepath.Join(dir, "out.jsonl")
	poll(t, 90*time.Second, "readings past the last fault", func() (bool, string) {
		if m, _, err := p.metrics(); err == nil {
			snaps = append(snaps, snap{time.Duration(m["stirling_sim_engine_seconds"] * float64(time.Second)), m})
		}
		span := readingSpan(t, out)
		return span >= end, fmt.Sprintf("%v of sensor time in the file", span)
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; want 0", code)
	}
	t.Logf("%v of sensor time in %v", end, time.Since(started).Round(time.Millisecond))
	if len(snaps) < 2 || snaps[len(snaps)-1].engine == 0 {
		t.Fatalf("no stirling_sim_engine_seconds on /metrics (%d samples)", len(snaps))
	}
	// counterAt is the counter in the last sample taken at or before
	// engine time e (the first sample if none).
	counterAt := func(name string, e time.Duration) float64 {
		v := snaps[0].m[name]
		for _, s := range snaps {
			if s.engine > e {
				break
			}
			v = s.m[name]
		}
		return v
	}

	recs, _ := readRecords(t, out)
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
		samples[i] = sample{at: times[i].Sub(t0), metric: r.Metric, value: r.Value, quality: r.Quality}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].at < samples[j].at })
	pick := func(from, to time.Duration, match func(sample) bool) []sample {
		var s []sample
		for _, x := range samples {
			if x.at >= from && x.at < to && match(x) {
				s = append(s, x)
			}
		}
		return s
	}
	isTemp := func(m string) bool { return m == "hot_cylinder_c" || m == "cold_cylinder_c" || m == "flame_c" }
	goodTemp := func(s sample) bool { return isTemp(s.metric) && s.quality == "GOOD" }
	rpm := func(s sample) bool { return s.metric == "rpm" }
	goodRPM := func(s sample) bool { return s.metric == "rpm" && s.quality == "GOOD" && s.value > 0 }
	if len(pick(0, lead, goodTemp)) == 0 {
		t.Fatalf("no GOOD temperature before the first fault; metrics seen: %s", metricNames(recs))
	}

	for _, w := range windows {
		grew := counterAt(w.counter, w.to+2*time.Second) - counterAt(w.counter, w.from)
		if grew <= 0 {
			t.Errorf("%s: %s did not grow during the fault", w.kind, w.counter)
		}
		// The first readings of a fault may still come from before it;
		// the last ones are settled by then.
		settled := w.from + 3*time.Second
		switch w.expect {
		case cameraDown:
			good := pick(settled, w.to-time.Second, goodTemp)
			other := pick(settled, w.to-time.Second, func(s sample) bool { return isTemp(s.metric) && s.quality != "GOOD" })
			speed := pick(w.from, w.to, rpm)
			after := pick(w.to, w.to+gap, goodTemp)
			t.Logf("%-16s %s +%v; during: %d GOOD, %d BAD/UNCERTAIN temperatures, %d speed readings; after: %d GOOD temperatures",
				w.kind, w.counter, grew, len(good), len(other), len(speed), len(after))
			if len(good) > 0 {
				t.Errorf("%s: %d GOOD temperature readings during the fault", w.kind, len(good))
			}
			if len(speed) == 0 {
				t.Errorf("%s: no speed reading during a camera fault; the tachometer must not depend on the camera", w.kind)
			}
			if len(after) == 0 {
				t.Errorf("%s: no GOOD temperature within %v after the fault", w.kind, gap)
			}
		case speedNoisy:
			speed := pick(settled, w.to, rpm)
			med := median(speed)
			temps := pick(w.from, w.to, goodTemp)
			t.Logf("%-16s %s +%v; during: %d speed readings, median %.0f RPM (true %d), %d GOOD temperatures",
				w.kind, w.counter, grew, len(speed), med, steadyRPM, len(temps))
			if len(speed) == 0 {
				t.Errorf("%s: no speed readings during the fault", w.kind)
			} else if med < 0.85*steadyRPM || med > 1.15*steadyRPM {
				t.Errorf("%s: median speed %.0f RPM during the fault; want within 15%% of %d", w.kind, med, steadyRPM)
			}
			if len(temps) == 0 {
				t.Errorf("%s: no GOOD temperature during a tachometer fault", w.kind)
			}
		case speedDead:
			// stall_timeout (3 s) plus a window.
			live := pick(w.from+5*time.Second, w.to-time.Second, goodRPM)
			after := pick(w.to, w.to+gap, goodRPM)
			t.Logf("%-16s %s +%v; during: %d GOOD non-zero speeds; after: %d", w.kind, w.counter, grew, len(live), len(after))
			if len(live) > 0 {
				t.Errorf("%s: %d GOOD non-zero speed readings with no edges (first %.0f RPM at %v)", w.kind, len(live), live[0].value, live[0].at)
			}
			if len(after) == 0 {
				t.Errorf("%s: no GOOD speed within %v after the fault", w.kind, gap)
			}
		}
	}
}

// sample is one reading, timed from the first reading of the run.
type sample struct {
	at      time.Duration // sensor time after the first reading
	metric  string
	value   float64
	quality string
}

// median of the samples' values.
func median(s []sample) float64 {
	if len(s) == 0 {
		return 0
	}
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = x.value
	}
	slices.Sort(v)
	return v[len(v)/2]
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

// readingSpan is the sensor time between the first and the last reading in
// a JSON-lines file.
func readingSpan(t *testing.T, path string) time.Duration {
	t.Helper()
	recs, _ := readRecords(t, path)
	var lo, hi time.Time
	for _, r := range recs {
		ts, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			continue
		}
		if lo.IsZero() || ts.Before(lo) {
			lo = ts
		}
		if ts.After(hi) {
			hi = ts
		}
	}
	return hi.Sub(lo)
}
