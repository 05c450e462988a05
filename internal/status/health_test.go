package status

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
)

// healthSource is a Source whose snapshot the test sets.
type healthSource struct {
	mu   sync.Mutex
	snap Snapshot
}

func (h *healthSource) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snap
}
func (h *healthSource) set(s Snapshot) {
	h.mu.Lock()
	h.snap = s
	h.mu.Unlock()
}
func (h *healthSource) Frame(*sensors.Frame) bool { return false }
func (h *healthSource) ROIs() sensors.ROIs        { return testROIs() }

const (
	testLiveWindow = 10 * time.Second
	testSilence    = time.Minute
)

func newHealthServer(src Source, clk *clocktest.Fake) *Server {
	return New(src, &Opts{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Clock: clk,
		LiveWindow: testLiveWindow, HealthMaxSilence: testSilence})
}

// getHealth fetches /livez or /healthz and decodes the JSON body.
func getHealth(t *testing.T, h http.Handler, path string) (int, Health) {
	t.Helper()
	rec := get(t, h, path)
	var doc Health
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%s: body is not JSON (%v): %q", path, err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	return rec.Code, doc
}

func TestHealthChecks(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	now := t0.Add(10 * time.Minute) // well past the start's grace
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	flowing := func() Snapshot {
		return Snapshot{
			LastSensor:  ago(200 * time.Millisecond),
			LastSpooled: ago(time.Second),
			Publishers:  []PublisherStatus{{Name: "mqtt", LagRecords: 5, LastSuccess: ago(3 * time.Second)}},
		}
	}
	enospc := "ENOSPC: spool: append seq 42: write /var/spool/x.seg: no space left on device"
	tests := []struct {
		name    string
		at      time.Time // the clock; default now
		snap    func(*Snapshot)
		live    int
		healthy int
		state   string
		failing string // the check that must fail (with reason containing why)
		why     string
	}{
		{name: "all flowing", live: 200, healthy: 200, state: StateOK},
		{name: "broker away for less than max silence", snap: func(s *Snapshot) {
			s.Publishers[0] = PublisherStatus{Name: "mqtt", LagRecords: 900, LastSuccess: ago(50 * time.Second), LastError: "connection refused"}
		}, live: 200, healthy: 200, state: StateOK},
		{name: "publisher silent with readings waiting", snap: func(s *Snapshot) {
			s.Publishers[0] = PublisherStatus{Name: "mqtt", LagRecords: 900, LastSuccess: ago(2 * time.Minute), LastError: "connection refused"}
		}, live: 200, healthy: 503, state: StateDegraded, failing: "publisher:mqtt", why: "900 records waiting and nothing delivered for 2m0s (max 1m0s"},
		{name: "publisher that never delivered, readings waiting", snap: func(s *Snapshot) {
			s.Publishers[0] = PublisherStatus{Name: "mqtt", LagRecords: 1, LastError: "not authorized"}
		}, live: 200, healthy: 503, state: StateDegraded, failing: "publisher:mqtt", why: "last error: not authorized"},
		{name: "publisher silent, nothing waiting", snap: func(s *Snapshot) {
			s.Publishers[0] = PublisherStatus{Name: "mqtt", LastSuccess: ago(time.Hour)}
		}, live: 200, healthy: 200, state: StateOK},
		{name: "spool appends failing", snap: func(s *Snapshot) {
			s.LastSpooled = ago(3 * time.Second)
			s.Spool = SpoolStatus{FailingSince: ago(2 * time.Second), LastError: enospc, LastErrorTime: ago(100 * time.Millisecond), LostReadings: 1234}
		}, live: 503, healthy: 503, state: StateDown, failing: "spool", why: "appends failing for 2s: ENOSPC: "},
		{name: "an append failed after the last one that worked (no FailingSince)", snap: func(s *Snapshot) {
			s.LastSpooled = ago(2 * time.Second)
			s.Spool = SpoolStatus{LastError: "EIO: write: input/output error", LastErrorTime: ago(time.Second), LostReadings: 10}
		}, live: 503, healthy: 503, state: StateDown, failing: "spool", why: "EIO"},
		{name: "appends work again, but a failure is within the window", snap: func(s *Snapshot) {
			s.Spool = SpoolStatus{LastError: enospc, LastErrorTime: ago(5 * time.Second), LostReadings: 7}
		}, live: 503, healthy: 503, state: StateDown, failing: "spool", why: "an append failed 5s ago"},
		{name: "a whole window without a failure", snap: func(s *Snapshot) {
			s.Spool = SpoolStatus{LastError: enospc, LastErrorTime: ago(11 * time.Second), LostReadings: 7}
		}, live: 200, healthy: 200, state: StateOK},
		{name: "nothing spooled for a window", snap: func(s *Snapshot) {
			s.LastSpooled = ago(11 * time.Second)
		}, live: 503, healthy: 503, state: StateDown, failing: "spool", why: "nothing appended for 11s (window 10s"},
		{name: "delivering the backlog is not liveness", snap: func(s *Snapshot) {
			s.LastSpooled = ago(time.Minute)
			s.Publishers[0].LastSuccess = ago(0)
		}, live: 503, healthy: 503, state: StateDown, failing: "spool", why: "nothing appended"},
		{name: "sensors silent", snap: func(s *Snapshot) {
			s.LastSensor = ago(11 * time.Second)
		}, live: 503, healthy: 503, state: StateDown, failing: "sensors", why: "no sensor data for 11s"},
		{name: "down beats degraded", snap: func(s *Snapshot) {
			s.LastSensor = ago(time.Hour)
			s.Publishers[0] = PublisherStatus{Name: "mqtt", LagRecords: 3, LastSuccess: ago(time.Hour)}
		}, live: 503, healthy: 503, state: StateDown, failing: "publisher:mqtt", why: "nothing delivered"},
		{name: "fresh start has grace", at: t0.Add(5 * time.Second), snap: func(s *Snapshot) {
			*s = Snapshot{Publishers: []PublisherStatus{{Name: "mqtt", LagRecords: 3}}}
		}, live: 200, healthy: 200, state: StateOK},
		{name: "the grace is one window", at: t0.Add(11 * time.Second), snap: func(s *Snapshot) {
			*s = Snapshot{Publishers: []PublisherStatus{{Name: "mqtt", LagRecords: 3}}}
		}, live: 503, healthy: 503, state: StateDown, failing: "sensors", why: "last never"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewAuto(t0)
			src := &healthSource{}
			h := newHealthServer(src, clk).Handler()
			at := tc.at
			if at.IsZero() {
				at = now
			}
			clk.Advance(at.Sub(t0))
			snap := flowing()
			if tc.snap != nil {
				tc.snap(&snap)
			}
			src.set(snap)

			lc, ld := getHealth(t, h, "/livez")
			hc, hd := getHealth(t, h, "/healthz")
			if lc != tc.live || hc != tc.healthy {
				t.Fatalf("/livez %d, /healthz %d; want %d, %d\nlivez %+v\nhealthz %+v", lc, hc, tc.live, tc.healthy, ld, hd)
			}
			if hd.Status != tc.state || hd.OK != (tc.state == StateOK) {
				t.Errorf("/healthz status %q ok %v; want %q", hd.Status, hd.OK, tc.state)
			}
			if want := map[bool]string{true: StateOK, false: StateDown}[tc.live == 200]; ld.Status != want {
				t.Errorf("/livez status %q; want %q", ld.Status, want)
			}
			names := func(d Health) []string {
				var n []string
				for _, c := range d.Checks {
					n = append(n, c.Name)
					if c.Reason == "" {
						t.Errorf("check %s has no reason", c.Name)
					}
				}
				return n
			}
			if got := strings.Join(names(ld), ","); got != "sensors,spool" {
				t.Errorf("/livez checks %s; want sensors,spool", got)
			}
			if got := strings.Join(names(hd), ","); got != "sensors,spool,publisher:mqtt" {
				t.Errorf("/healthz checks %s; want sensors,spool,publisher:mqtt", got)
			}
			for _, c := range hd.Checks {
				if c.Name == tc.failing {
					if c.OK || !strings.Contains(c.Reason, tc.why) {
						t.Errorf("check %s: ok %v reason %q; want failing with %q", c.Name, c.OK, c.Reason, tc.why)
					}
					if !strings.Contains(hd.Reason, c.Reason) {
						t.Errorf("overall reason %q does not carry %q", hd.Reason, c.Reason)
					}
				} else if tc.failing == "" && !c.OK {
					t.Errorf("check %s fails: %s", c.Name, c.Reason)
				}
			}
			// The page gets the same verdict as /healthz.
			var doc struct{ Health Health }
			if err := json.Unmarshal(get(t, h, "/api/status").Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Health.Status != hd.Status || len(doc.Health.Checks) != len(hd.Checks) {
				t.Errorf("/api/status health %+v; /healthz %+v", doc.Health, hd)
			}
		})
	}
}

// TestHealthFullDiskTimeline walks one server through a disk that fills
// and empties: 503 at the first failure, still 503 while an append
// squeezes in between failures, 200 once a window passed without one.
func TestHealthFullDiskTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	clk := clocktest.NewAuto(t0)
	src := &healthSource{}
	h := newHealthServer(src, clk).Handler()
	var snap Snapshot
	appended := func() { snap.LastSpooled = clk.Now(); snap.Spool.FailingSince = time.Time{} }
	failed := func() {
		if snap.Spool.FailingSince.IsZero() {
			snap.Spool.FailingSince = clk.Now()
		}
		snap.Spool.LastError, snap.Spool.LastErrorTime = "ENOSPC: no space left on device", clk.Now()
		snap.Spool.LostReadings += 10
	}
	steps := []struct {
		advance time.Duration
		do      func()
		want    int
	}{
		{time.Second, appended, 200},
		{time.Second, appended, 200},
		{time.Second, failed, 503},                        // the disk is full: at once
		{time.Second, failed, 503},                        // still full
		{time.Second, appended, 503},                      // squeezed into the last block
		{time.Second, failed, 503},                        // full again
		{time.Second, appended, 503},                      // space returned ...
		{5 * time.Second, appended, 503},                  // ... 6 s ago
		{4*time.Second + time.Millisecond, appended, 200}, // a whole window without a failure
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		snap.LastSensor = clk.Now()
		s.do()
		src.set(snap)
		for _, path := range []string{"/livez", "/healthz"} {
			if code, d := getHealth(t, h, path); code != s.want {
				t.Fatalf("step %d (t+%s) %s: %d %+v; want %d", i, clk.Now().Sub(t0), path, code, d, s.want)
			}
		}
	}
}

// TestLostReadingsMetrics: the readings lost to failed appends are on
// /metrics by cause, with the live and per-check gauges.
func TestLostReadingsMetrics(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	clk := clocktest.NewAuto(t0)
	src := &healthSource{}
	src.set(Snapshot{LastSensor: t0, LastSpooled: t0.Add(-time.Second), Spool: SpoolStatus{
		LostReadings: 1500, LostReadingsNoSpace: 1200, LostBatches: 30,
		FailingSince: t0, LastErrorTime: t0, LastError: "ENOSPC: no space left on device",
	}})
	rec := get(t, newHealthServer(src, clk).Handler(), "/metrics")
	samples, types := checkExposition(t, rec.Body.String())
	for series, want := range map[string]string{
		`stirling_spool_lost_readings_total{reason="no_space"}`:    "1200",
		`stirling_spool_lost_readings_total{reason="write_error"}`: "300",
		`stirling_spool_lost_batches_total`:                        "30",
		`stirling_live`:                                            "0",
		`stirling_healthy`:                                         "0",
		`stirling_health_check{check="spool"}`:                     "0",
		`stirling_health_check{check="sensors"}`:                   "1",
	} {
		if got := samples[series]; got != want {
			t.Errorf("%s = %q; want %s", series, got, want)
		}
	}
	if types["stirling_spool_lost_readings_total"] != "counter" {
		t.Errorf("stirling_spool_lost_readings_total is a %q", types["stirling_spool_lost_readings_total"])
	}
}
