package status

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/internal/heatmap"
	"github.com/stirling-iot/stirling/sensors"
)

// fakeSource is a changing agent: every period the frame seq and the RPM
// move on, and a hot spot walks across the image.
type fakeSource struct {
	start  time.Time
	period time.Duration

	mu   sync.Mutex
	snap Snapshot
}

func newFakeSource(period time.Duration) *fakeSource {
	return &fakeSource{start: time.Now(), period: period}
}

func (s *fakeSource) step() uint64 { return uint64(time.Since(s.start)/s.period) + 1 }

func (s *fakeSource) set(f func(*Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.snap)
}

func (s *fakeSource) Snapshot() Snapshot {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	n := s.step()
	snap.Time = time.Now()
	snap.EngineState = "running"
	snap.Readings = []Reading{
		{Metric: "rpm", Unit: "rpm", Value: 500 + float64(n%50)*10, Quality: "GOOD", Time: time.Now()},
		{Metric: "flame_temp_mean", Unit: "degC", Value: 250.5, Quality: "GOOD", Time: time.Now()},
	}
	snap.Publishers = []PublisherStatus{{Name: "mqtt", State: "connected", Delivered: n * 10, LastSuccess: time.Now()},
		{Name: "sitewise", State: "backoff", LastError: `throttled: "slow down"`, LastErrorTime: time.Now(), Retried: 3}}
	snap.Spool = SpoolStatus{DepthRecords: int64(n), DepthBytes: int64(n) * 100}
	return snap
}

func (s *fakeSource) Frame(dst *sensors.Frame) bool {
	n := s.step()
	fillFrame(dst, n)
	return true
}

func (s *fakeSource) ROIs() sensors.ROIs { return testROIs() }

func testROIs() sensors.ROIs {
	return sensors.ROIs{
		HotCylinder:  sensors.ROI{X: 6, Y: 4, W: 6, H: 8},
		ColdCylinder: sensors.ROI{X: 20, Y: 4, W: 6, H: 8},
		Flame:        sensors.ROI{X: 7, Y: 14, W: 4, H: 4},
	}
}

// fillFrame draws a warm background with a hot spot that moves with n.
func fillFrame(f *sensors.Frame, n uint64) {
	*f = sensors.Frame{Seq: n, Time: time.Unix(1700000000, 0).Add(time.Duration(n) * 500 * time.Millisecond), Ta: 25, Vdd: 3.3}
	cx, cy := float64(n%sensors.Width), 12.0
	for i := range f.To {
		x, y := float64(i%sensors.Width), float64(i/sensors.Width)
		d2 := (x-cx)*(x-cx) + (y-cy)*(y-cy)
		f.To[i] = 22 + 200*math.Exp(-d2/8) + 0.1*float64(i%7)
		f.Valid[i] = true
		f.Updated[i] = f.Time
	}
	f.Valid[0] = false
	f.Bad[5] = true
}

func newTestServer(t *testing.T, src Source, clk *clocktest.Fake) *Server {
	t.Helper()
	o := Opts{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), HealthMaxSilence: time.Minute}
	if clk != nil {
		o.Clock = clk
	}
	return New(src, &o)
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = "127.0.0.1" // an allowed name (httptest's default, example.com, is not)
	h.ServeHTTP(rec, req)
	return rec
}

var (
	sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})? (NaN|[+-]Inf|[-+0-9.eE]+)$`)
	helpRe   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	typeRe   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped)$`)
)

// checkExposition parses the text format line by line and returns the
// samples by series ("name{labels}") and the type of each family.
func checkExposition(t *testing.T, body string) (map[string]string, map[string]string) {
	t.Helper()
	samples := map[string]string{}
	types := map[string]string{}
	helps := map[string]bool{}
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			m := helpRe.FindStringSubmatch(line)
			if m == nil || helps[m[1]] || seen[m[1]] {
				t.Fatalf("line %d: bad or repeated HELP: %q", n+1, line)
			}
			helps[m[1]] = true
		case strings.HasPrefix(line, "# TYPE "):
			m := typeRe.FindStringSubmatch(line)
			if m == nil || types[m[1]] != "" || seen[m[1]] {
				t.Fatalf("line %d: bad or repeated TYPE: %q", n+1, line)
			}
			types[m[1]] = m[2]
		default:
			m := sampleRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", n+1, line)
			}
			if types[m[1]] == "" {
				t.Fatalf("line %d: sample before its TYPE: %q", n+1, line)
			}
			if types[m[1]] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Fatalf("line %d: counter without _total: %q", n+1, line)
			}
			seen[m[1]] = true
			key := m[1] + m[2]
			if _, dup := samples[key]; dup {
				t.Fatalf("line %d: duplicate series %s", n+1, key)
			}
			samples[key] = m[4]
		}
	}
	return samples, types
}

func TestMetricsEndpoint(t *testing.T) {
	src := newFakeSource(time.Hour)
	src.set(func(s *Snapshot) { s.LastDelivered = time.Now() })
	// Other components' collectors sit beside the server's on one registry.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stirling_pipeline_readings_total", Help: "Readings in."},
		func() float64 { return 42 }))
	edges := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stirling_tach_edges_total", Help: "Edges."}, []string{"line"})
	edges.WithLabelValues("GPIO4").Add(7)
	reg.MustRegister(edges)
	srv := New(src, &Opts{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), HealthMaxSilence: time.Minute, Metrics: reg})
	reg.MustRegister(srv)
	rec := get(t, srv.Handler(), "/metrics")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("code %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	samples, types := checkExposition(t, rec.Body.String())
	for series, want := range map[string]string{
		`stirling_pipeline_readings_total`:                               "42",
		`stirling_tach_edges_total{line="GPIO4"}`:                        "7",
		`stirling_publisher_delivered_readings_total{publisher="mqtt"}`:  "10",
		`stirling_publisher_state{publisher="sitewise",state="backoff"}`: "1",
		`stirling_publisher_error{publisher="sitewise"}`:                 "1",
		`stirling_reading_rpm{metric="rpm"}`:                             "510",
		`stirling_spool_depth_records`:                                   "1",
		`stirling_spool_dropped_records_total{reason="full"}`:            "0",
		`stirling_spool_dropped_records_total{reason="age"}`:             "0",
		`stirling_engine_state{state="running"}`:                         "1",
		`stirling_healthy`:                                               "1",
	} {
		if got, ok := samples[series]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", series, got, ok, want)
		}
	}
	if types["stirling_spool_depth_bytes"] != "gauge" || types["stirling_spool_dropped_records_total"] != "counter" {
		t.Errorf("types: %v", types)
	}
}

func TestFrameEndpoint(t *testing.T) {
	srv := newTestServer(t, newFakeSource(time.Hour), nil)
	rec := get(t, srv.Handler(), "/api/frame")
	if rec.Code != http.StatusOK {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "seq", "ta", "vdd", "width", "height", "to", "bad", "rois"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	var doc FrameDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Width != 32 || doc.Height != 24 || len(doc.To) != 768 || doc.To[0] != nil || doc.To[1] == nil {
		t.Fatalf("shape: %dx%d, %d pixels, to[0]=%v", doc.Width, doc.Height, len(doc.To), doc.To[0])
	}
	if len(doc.Bad) != 1 || doc.Bad[0] != 5 || doc.ROIs != testROIs() || doc.Seq != 1 {
		t.Fatalf("bad %v rois %+v seq %d", doc.Bad, doc.ROIs, doc.Seq)
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Trim(string(raw["time"]), `"`)); err != nil {
		t.Fatal(err)
	}
	// Round trip.
	var f, want sensors.Frame
	fillFrame(&want, 1)
	rois, err := DecodeFrame(rec.Body.Bytes(), &f)
	if err != nil {
		t.Fatal(err)
	}
	if rois != testROIs() || f.Seq != 1 || f.Valid[0] || !f.Valid[1] || !f.Bad[5] || !f.Time.Equal(want.Time) {
		t.Fatalf("decoded %+v", rois)
	}
	for i := 1; i < sensors.Pixels; i++ {
		if math.Abs(f.To[i]-want.To[i]) > 0.005 {
			t.Fatalf("pixel %d: %v, want %v", i, f.To[i], want.To[i])
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not json", "{"},
		{"wrong size", `{"width":32,"height":24,"to":[1,2]}`},
		{"bad index", `{"width":32,"height":24,"to":[` + strings.Repeat("1,", 767) + `1],"bad":[768]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f sensors.Frame
			if _, err := DecodeFrame([]byte(tc.in), &f); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

type noFrame struct{ *fakeSource }

func (noFrame) Frame(*sensors.Frame) bool { return false }

func TestFrameEndpointNoFrame(t *testing.T) {
	srv := newTestServer(t, noFrame{newFakeSource(time.Hour)}, nil)
	if rec := get(t, srv.Handler(), "/api/frame"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d", rec.Code)
	}
}

func TestStatusAndPage(t *testing.T) {
	srv := newTestServer(t, newFakeSource(time.Hour), nil)
	rec := get(t, srv.Handler(), "/api/status")
	var st struct {
		EngineState string            `json:"engine_state"`
		Readings    []Reading         `json:"readings"`
		Publishers  []PublisherStatus `json:"publishers"`
		Spool       SpoolStatus       `json:"spool"`
		Health      struct{ OK bool } `json:"health"`
		RPMHistory  [][2]*float64     `json:"rpm_history"`
		ROIs        sensors.ROIs      `json:"rois"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.EngineState != "running" || len(st.Readings) != 2 || len(st.Publishers) != 2 || st.Spool.DepthRecords != 1 || !st.Health.OK || st.ROIs != testROIs() {
		t.Fatalf("status: %+v", st)
	}
	for _, p := range []string{"/", "/heatmap.js", "/app.js", "/style.css", "/api/ramp"} {
		if rec := get(t, srv.Handler(), p); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

// readEvent reads one server-sent event.
func readEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

func TestRunEventsAndShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	src := newFakeSource(100 * time.Millisecond)
	srv := newTestServer(t, src, nil)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	resp, err := client.Get("http://" + srv.Addr() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	counts := map[string]int{}
	seqs := map[uint64]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for (counts["status"] < 2 || len(seqs) < 3) && time.Now().Before(deadline) {
		name, data := readEvent(t, r)
		counts[name]++
		if name == "frame" {
			var d FrameDoc
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatal(err)
			}
			seqs[d.Seq] = true
		}
	}
	if counts["status"] < 2 || len(seqs) < 3 {
		t.Fatalf("events %v, distinct frames %d", counts, len(seqs))
	}
	// A second client that disconnects must be unregistered.
	resp2, err := client.Get("http://" + srv.Addr() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	readEvent(t, bufio.NewReader(resp2.Body))
	resp2.Body.Close()
	waitFor(t, func() bool { return srv.sseClients.Load() == 1 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := io.ReadAll(resp.Body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream end: %v", err)
	}
	if n := srv.sseClients.Load(); n != 0 {
		t.Fatalf("%d stream handlers still running after shutdown", n)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 3s")
}

func BenchmarkAppendFrameJSON(b *testing.B) {
	var f sensors.Frame
	fillFrame(&f, 3)
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrameJSON(buf[:0], &f, testROIs())
	}
}

func BenchmarkMetrics(b *testing.B) {
	src := newFakeSource(time.Hour)
	srv := New(src, &Opts{Logger: slog.New(slog.DiscardHandler)})
	b.ReportAllocs()
	h := srv.Handler()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Host = "127.0.0.1"
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func TestRampMatchesHeatmap(t *testing.T) {
	rec := get(t, New(newFakeSource(time.Hour), nil).Handler(), "/api/ramp")
	var stops []struct {
		At  float64  `json:"at"`
		RGB [3]uint8 `json:"rgb"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &stops); err != nil {
		t.Fatal(err)
	}
	hs := heatmap.Ramp()
	if len(stops) != len(hs) || len(stops) < 2 || stops[0].At != 0 || stops[len(stops)-1].At != 1 {
		t.Fatalf("stops %v", stops)
	}
	for i, s := range stops {
		if s.At != hs[i].Pos || s.RGB != [3]uint8{hs[i].R, hs[i].G, hs[i].B} {
			t.Fatalf("stop %d: %v, want %+v", i, s, hs[i])
		}
	}
}
