package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/internal/testsrv/promtest"
)

const (
	lagKey       = `stirling_publisher_lag_records{publisher="mqtt"}`
	connectedKey = `stirling_mqtt_connected{publisher="mqtt"}`
)

// stream parses a subscriber's messages incrementally.
type stream struct {
	sub    *mosquittotest.Sub
	layout string
	device string
	n      int
	recs   []rec
	minTS  int64
	maxTS  int64
}

func newStream(sub *mosquittotest.Sub, layout, device string) *stream {
	return &stream{sub: sub, layout: layout, device: device}
}

func (s *stream) update(t *testing.T) {
	t.Helper()
	msgs := s.sub.Messages()
	if len(msgs) == s.n {
		return
	}
	rs := parseMessages(t, s.layout, s.device, msgs[s.n:])
	for i := range rs {
		rs[i].msg += s.n
		if len(s.recs) == 0 && i == 0 || rs[i].ts < s.minTS {
			s.minTS = rs[i].ts
		}
		s.maxTS = max(s.maxTS, rs[i].ts)
	}
	s.recs = append(s.recs, rs...)
	s.n = len(msgs)
}

// simSpan is the sensor time covered by the readings received so far.
func (s *stream) simSpan() time.Duration {
	if len(s.recs) == 0 {
		return 0
	}
	return time.Duration(s.maxTS-s.minTS) * time.Millisecond
}

func (s *stream) waitUntil(t *testing.T, a *agenttest.Agent, timeout time.Duration, what string, cond func(*stream) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.update(t)
		if cond(s) {
			return
		}
		if !a.Running() {
			t.Fatalf("agent exited while waiting for %s: %v", what, a.Err())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v: %d messages, %v of sensor time", what, timeout, s.n, s.simSpan())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// realFor converts a simulated duration to wall time at speed-up s.
func realFor(d time.Duration, s float64) time.Duration { return time.Duration(float64(d) / s) }

// TestEndToEnd runs the agent on the simulated engine with the sample
// layout for five simulated minutes and checks that every reading arrives,
// in order, without gaps or duplicates.
func TestEndToEnd(t *testing.T) {
	requireAgent(t)
	const speed = 30.0
	b := mosquittotest.Start(t, nil)
	thing := "e2e-01"
	topic := "dt/stirling/" + thing + "/telemetry"
	sub := b.Subscribe(t, topic)
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	cfg := writeConfig(t, dir, agentConfig{Thing: thing, Speedup: speed, Layout: "sample", Endpoint: b.Addr, Topic: topic,
		Broker: b, HTTP: httpAddr, SpoolDir: filepath.Join(dir, "spool")})
	a := startAgent(t, cfg, httpAddr)
	st := newStream(sub, "sample", thing)
	st.waitUntil(t, a, realFor(5*time.Minute, speed)+30*time.Second, "five simulated minutes", func(s *stream) bool {
		return s.simSpan() >= 5*time.Minute
	})
	m, err := a.WaitMetrics(30*time.Second, func(m promtest.Series) bool { v, ok := m[lagKey]; return ok && v == 0 })
	if err != nil {
		t.Fatalf("backlog not drained: %v (lag %v)", err, m[lagKey])
	}
	if err := a.Stop(15 * time.Second); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	st.update(t)
	f := analyze(st.recs, st.n)
	f.Test, f.Speedup, f.DropCounters = t.Name(), speed, dropCounters(m)
	report(t, f)
	metrics := map[string]int{}
	for _, r := range st.recs {
		metrics[r.metric]++
	}
	names := make([]string, 0, len(metrics))
	for k := range metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("metrics received: %v", names)
	if f.Readings == 0 || f.Lost != 0 || f.DupReadings != 0 || f.ArrivalInversions != 0 || f.TSInversions != 0 || len(f.DropCounters) != 0 {
		t.Errorf("want every reading once, in order, no drops: %s", f)
	}
	if metrics["rpm"] == 0 {
		t.Errorf("no rpm readings among %v", names)
	}
	checkRestarts(t, st.recs, 0)
}

// TestOutage runs the agent for one simulated hour and takes the broker
// away for ten simulated minutes; in the second case the agent is also
// SIGKILLed and restarted in the middle of the outage.
func TestOutage(t *testing.T) {
	requireAgent(t)
	for _, tc := range []struct {
		name string
		kill bool
	}{
		{"broker_away_10min", false},
		{"agent_sigkill_during_outage", true},
	} {
		t.Run(tc.name, func(t *testing.T) { runOutage(t, tc.kill) })
	}
}

func runOutage(t *testing.T, kill bool) {
	speed := speedup(t)
	b := mosquittotest.Start(t, nil)
	px := mosquittotest.NewProxy(t, b.Addr)
	thing := "e2e-outage"
	topic := "dt/stirling/" + thing + "/telemetry"
	sub := b.Subscribe(t, topic)
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	// Every closed window is a spool record of its own: one window per
	// 50 ms of real time (5 s of sensor time at 100x) is 20 records
	// (messages) per real second, well under the 100 publishes/s the
	// publisher allows itself, so the backlog can drain. (With 1 s windows
	// at 100x the live edge alone is 100 records/s.)
	latency := time.Duration(float64(50*time.Millisecond) * speed)
	cfg := writeConfig(t, dir, agentConfig{Thing: thing, Speedup: speed, Layout: "batch", Endpoint: px.Addr, Topic: topic,
		Broker: b, HTTP: httpAddr, SpoolDir: filepath.Join(dir, "spool"), BatchLatency: latency, Window: latency})
	a := startAgent(t, cfg, httpAddr)
	start := a.Started
	st := newStream(sub, "batch", thing)

	// Twenty simulated minutes of normal operation.
	st.waitUntil(t, a, realFor(20*time.Minute, speed)+30*time.Second, "twenty simulated minutes", func(s *stream) bool {
		return s.simSpan() >= 20*time.Minute
	})
	before := len(st.recs)
	px.Down()
	downAt := time.Now()
	outage := realFor(10*time.Minute, speed)

	var restartToSpool time.Duration
	if kill {
		time.Sleep(outage / 2)
		a.Kill()
		restartAt := time.Now()
		a = startAgent(t, cfg, httpAddr)
		// No broker is reachable: the new process must still collect
		// and spool from its first second.
		if _, err := a.WaitMetrics(5*time.Second, func(m promtest.Series) bool {
			return m["stirling_last_spooled_timestamp_seconds"] > 0
		}); err != nil {
			t.Fatalf("restarted agent spooled nothing without a broker: %v", err)
		}
		restartToSpool = time.Since(restartAt)
		if restartToSpool > time.Second {
			t.Errorf("restarted agent spooled its first batch %v after start, want within 1 s", restartToSpool)
		}
		// Where drops happen matters to whoever fixes them: log the drop
		// counters over the restarted process's first seconds.
		var trace []string
		for i := 0; i < 8; i++ {
			time.Sleep(250 * time.Millisecond)
			if m, err := a.WaitMetrics(time.Second, func(promtest.Series) bool { return true }); err == nil {
				trace = append(trace, fmt.Sprintf("%v:%v", time.Since(restartAt).Round(10*time.Millisecond), dropCounters(m)))
			}
		}
		t.Logf("drop counters after the restart: %v", trace)
	}
	time.Sleep(time.Until(downAt.Add(outage)))
	st.update(t)
	if during := len(st.recs) - before; during > 0 {
		// Messages already on their way when the proxy went down may
		// still land; nothing may arrive later.
		t.Logf("%d readings arrived right after the proxy went down", during)
	}
	arrivedBeforeUp := st.n

	upAt := px.Up()
	// Reconnect: until the agent reports the MQTT link up (polled every
	// 20 ms, so this is an upper bound).
	var reconnect time.Duration = -1
	if _, err := a.WaitMetrics(10*time.Second, func(m promtest.Series) bool { return m[connectedKey] == 1 }); err == nil {
		reconnect = time.Since(upAt)
	} else {
		t.Errorf("agent did not report %s: %v", connectedKey, err)
	}
	// Drain: from the broker accepting again until the publisher's lag is 0.
	m, err := a.WaitMetrics(60*time.Second, func(m promtest.Series) bool { v, ok := m[lagKey]; return ok && v == 0 })
	if err != nil {
		t.Fatalf("backlog not drained: %v (lag %v)", err, m[lagKey])
	}
	drain := time.Since(upAt)

	// Run out the simulated hour, then let the spool empty and stop.
	time.Sleep(time.Until(start.Add(realFor(time.Hour, speed))))
	m, err = a.WaitMetrics(60*time.Second, func(m promtest.Series) bool { v, ok := m[lagKey]; return ok && v == 0 })
	if err != nil {
		t.Fatalf("backlog not drained at the end: %v (lag %v)", err, m[lagKey])
	}
	if err := a.Stop(15 * time.Second); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	st.update(t)

	msgs := sub.Messages()
	var firstAfter time.Duration = -1
	for _, msg := range msgs[arrivedBeforeUp:] {
		if msg.At.After(upAt) {
			firstAfter = msg.At.Sub(upAt)
			break
		}
	}
	f := analyze(st.recs, st.n)
	f.Test, f.Speedup, f.OutageReal, f.FirstAfterUp, f.DrainTime, f.RestartToSpool = t.Name(), speed, upAt.Sub(downAt), firstAfter, drain, restartToSpool
	f.DropCounters = dropCounters(m)
	f.Reconnect = reconnect
	report(t, f)

	if f.Lost != 0 {
		t.Errorf("%d readings lost", f.Lost)
	}
	if f.ArrivalInversions != 0 {
		t.Errorf("order broken: %d readings arrived after a higher seq", f.ArrivalInversions)
	}
	// Strict, across the restart too: the restarted process's clock
	// continues just after the newest spooled reading (resumeTime).
	if f.TSInversions != 0 {
		t.Errorf("order broken: %d per-metric time inversions: %v", f.TSInversions, f.InversionDetail)
	}
	want := 0
	if kill {
		want = 1
	}
	for _, r := range checkRestarts(t, st.recs, want) {
		// At a speed-up the restarted clock resumes one window (sensor
		// time) after previous_ts, so the gap is what the kill lost plus that
		// second, not the downtime.
		t.Logf("%v", r)
	}
	if f.DupMessages > 100 {
		t.Errorf("%d duplicate messages, more than the in-flight window (100)", f.DupMessages)
	}
	if len(f.DropCounters) != 0 {
		t.Errorf("drop counters not zero: %v", f.DropCounters)
	}
	// The mqtt publisher's connection backoff is capped at 1 s
	// (MaxReconnectInterval); the margin is for the TLS handshake.
	if firstAfter < 0 || firstAfter > 1500*time.Millisecond {
		t.Errorf("first message %v after the broker accepted connections again, want within 1.5 s", firstAfter)
	}
	if len(st.recs) <= before {
		t.Error("nothing arrived after the outage")
	}
}
