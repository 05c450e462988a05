package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// TestStatusEndpoints: the endpoints operators and Prometheus scrape, from
// the running agent: /metrics is valid exposition text (one TYPE per
// family before its samples, every series once, counters named _total),
// /healthz answers 200, /api/status and /api/frame are JSON with data.
func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, baseConfig(dir, 20).write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	poll(t, 20*time.Second, "readings on /api/status", func() (bool, string) {
		st, err := p.status()
		if err != nil {
			return false, err.Error()
		}
		return len(st.Readings) > 0 && len(st.Publishers) > 0, fmt.Sprintf("%d readings", len(st.Readings))
	})

	code, body, err := p.Get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)
	types := map[string]string{}
	seen := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			if _, dup := types[name]; dup {
				t.Errorf("line %d: second TYPE line for %s", i+1, name)
			}
			types[name] = typ
			if typ == "counter" && !strings.HasSuffix(name, "_total") {
				t.Errorf("line %d: counter %s does not end in _total", i+1, name)
			}
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d: not a sample: %q", i+1, line)
			continue
		}
		family := m[1]
		for _, suf := range []string{"_sum", "_count", "_bucket"} { // a summary's or histogram's series
			if base, ok := strings.CutSuffix(family, suf); ok && (types[base] == "summary" || types[base] == "histogram") {
				family = base
			}
		}
		if _, ok := types[family]; !ok {
			t.Errorf("line %d: sample of %s before (or without) its TYPE line", i+1, m[1])
		}
		seen[m[1]+m[2]]++
	}
	for series, n := range seen {
		if n > 1 {
			t.Errorf("series %s appears %d times; Prometheus rejects the scrape (duplicate sample)", series, n)
		}
	}
	// The names follow the Prometheus conventions (units, _total, ...).
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Errorf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{"stirling_up", "stirling_build_info", "go_goroutines", "process_cpu_seconds_total", "stirling_spool_dropped_records_total", "stirling_spool_corrupt_skipped_records_total",
		"stirling_publisher_delivered_readings_total", "stirling_camera_nacks_total"} {
		if _, ok := types[want]; !ok {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if code, body, err := p.Get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz: %d %q %v; want 200", code, body, err)
	}
	code, body, err = p.Get("/api/frame")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/api/frame: %d %v", code, err)
	}
	var fr struct {
		Width, Height int
		To            []float64 `json:"to"`
	}
	if err := json.Unmarshal([]byte(body), &fr); err != nil {
		t.Fatalf("/api/frame: %v", err)
	}
	if fr.Width != 32 || fr.Height != 24 || len(fr.To) != 32*24 {
		t.Errorf("/api/frame: %dx%d with %d values; want 32x24 with 768", fr.Width, fr.Height, len(fr.To))
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
