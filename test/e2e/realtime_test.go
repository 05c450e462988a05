package e2e

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/internal/testsrv/promtest"
)

// Real-time run parameters: window 1s, grace 250ms (the defaults),
// spool.sync_interval 1s (writeConfig).
const (
	rtWindow = time.Second
	rtGrace  = 250 * time.Millisecond
	rtSync   = time.Second
)

// latencies are the delays from window start and end to the subscriber.
type latencies struct {
	n                 int
	fromEnd, fromStrt []time.Duration
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// windowLatencies measures, for every window aggregate (a reading stamped
// on a whole second) that arrived between from and to, its delay from the
// window's end and from its start to the subscriber.
func windowLatencies(recs []rec, from, to time.Time) latencies {
	var l latencies
	for _, r := range recs {
		if r.metric == "engine_state" || r.ts%rtWindow.Milliseconds() != 0 || r.arrival.Before(from) || r.arrival.After(to) {
			continue
		}
		start := time.UnixMilli(r.ts)
		l.n++
		l.fromStrt = append(l.fromStrt, r.arrival.Sub(start))
		l.fromEnd = append(l.fromEnd, r.arrival.Sub(start.Add(rtWindow)))
	}
	return l
}

// TestRealTimeKill runs the agent at real time (speed-up 1) and measures
//
//   - one window, one batch: the delay from a window's end (and start) to
//     the subscriber with the broker up;
//   - a SIGKILL in the worst phase during an outage: just before the open
//     window would close, with the previous window spooled but not sent.
//     The gap in sensor time across the restart may exceed the downtime by
//     window + sync_interval + 0.5 s at most, and the restart is announced.
//
// The timing targets (median from window end <= 0.5 s, from window start
// median <= 1.5 s and p95 <= 2 s, excess gap <= 2.5 s) are logged and
// recorded in BENCHMARKS.md; the test asserts them with slack for a loaded
// machine.
func TestRealTimeKill(t *testing.T) {
	requireAgent(t)
	b := mosquittotest.Start(t, nil)
	px := mosquittotest.NewProxy(t, b.Addr)
	thing := "e2e-realtime"
	topic := "dt/stirling/" + thing + "/telemetry"
	sub := b.Subscribe(t, topic)
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	cfg := writeConfig(t, dir, agentConfig{Thing: thing, Speedup: 1, Layout: "batch", Endpoint: px.Addr, Topic: topic,
		Broker: b, HTTP: httpAddr, SpoolDir: filepath.Join(dir, "spool")})
	a := startAgent(t, cfg, httpAddr)
	st := newStream(sub, "batch", thing)

	// Healthy: measure the latency over 12 s after a 3 s warm-up.
	st.waitUntil(t, a, 30*time.Second, "the first readings", func(s *stream) bool { return len(s.recs) > 0 })
	measureFrom := time.Now().Add(3 * time.Second)
	time.Sleep(15 * time.Second)
	measureTo := time.Now()
	st.update(t)
	lat := windowLatencies(st.recs, measureFrom, measureTo)

	// Outage, then SIGKILL in the worst phase: 200 ms after a window's
	// end, just before its grace (250 ms) runs out and it would close.
	px.Down()
	time.Sleep(3 * time.Second)
	now := time.Now()
	killAt := now.Truncate(rtWindow).Add(rtWindow + rtGrace - 50*time.Millisecond)
	time.Sleep(time.Until(killAt))
	a.Kill()
	killedAt := time.Now()
	a = startAgent(t, cfg, httpAddr)
	restartedAt := time.Now()
	downtime := restartedAt.Sub(killedAt)
	if _, err := a.WaitMetrics(5*time.Second, func(m promtest.Series) bool {
		return m["stirling_last_spooled_timestamp_seconds"] > 0
	}); err != nil {
		t.Fatalf("restarted agent spooled nothing without a broker: %v", err)
	}
	time.Sleep(3 * time.Second)
	px.Up()
	m, err := a.WaitMetrics(30*time.Second, func(m promtest.Series) bool { v, ok := m[lagKey]; return ok && v == 0 })
	if err != nil {
		t.Fatalf("backlog not drained: %v (lag %v)", err, m[lagKey])
	}
	time.Sleep(2 * time.Second)
	if err := a.Stop(15 * time.Second); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	st.update(t)

	f := analyze(st.recs, st.n)
	f.Test, f.Speedup, f.DropCounters = t.Name(), 1, dropCounters(m)
	report(t, f)
	if f.Lost != 0 || f.ArrivalInversions != 0 || f.TSInversions != 0 || len(f.DropCounters) != 0 {
		t.Errorf("want every spooled reading once, in order, seq never back, no drops: %s", f)
	}

	medEnd, medStart, p95Start := quantile(lat.fromEnd, 0.5), quantile(lat.fromStrt, 0.5), quantile(lat.fromStrt, 0.95)
	t.Logf("latency over %d window aggregates: window end -> subscriber median %v (target <= 500ms), p95 %v; window start -> subscriber median %v (target <= 1.5s), p95 %v (target <= 2s), max %v",
		lat.n, medEnd.Round(time.Millisecond), quantile(lat.fromEnd, 0.95).Round(time.Millisecond),
		medStart.Round(time.Millisecond), p95Start.Round(time.Millisecond), quantile(lat.fromStrt, 1).Round(time.Millisecond))
	if lat.n < 50 {
		t.Errorf("only %d window aggregates measured", lat.n)
	}
	// Loose, and phase-independent: a closed window is appended at once,
	// but cursors read only synced records, and the spool's group commit
	// syncs on its own 1 s grid, so a window waits between 0 and
	// sync_interval for its fsync depending on the phase of the two
	// clocks (measured: median 0.48 s in one run, 1.16 s in another).
	// Bound: grace (0.25 s) + sync_interval (1 s) + 0.5 s for a loaded
	// machine. The median target of issue 10 §5 is reported, not asserted.
	if medStart > 2750*time.Millisecond || medEnd > 1750*time.Millisecond {
		t.Errorf("latency: window end -> subscriber median %v, window start -> subscriber median %v: a window waits for the next one", medEnd, medStart)
	}

	rs := checkRestarts(t, st.recs, 1)
	if len(rs) == 1 {
		r := rs[0]
		excess := r.gap() - downtime
		target := rtWindow + rtSync + 500*time.Millisecond
		t.Logf("SIGKILL %v after a window's end: downtime %v (kill -> restart), sensor-time gap %v, excess %v (target <= %v); %v",
			killedAt.Sub(killedAt.Truncate(rtWindow)).Round(time.Millisecond), downtime.Round(time.Millisecond), r.gap(), excess.Round(time.Millisecond), target, r)
		// Loose by 1 s for the restarted process's start-up on a loaded
		// machine (its first window starts when its first frame arrives).
		if excess > target+time.Second {
			t.Errorf("sensor-time gap %v exceeds the downtime %v by %v, want at most %v", r.gap(), downtime, excess, target)
		}
	}
}
