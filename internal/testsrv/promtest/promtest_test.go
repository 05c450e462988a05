package promtest

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
)

const page = `# HELP stirling_camera_subpages_total Subpages read.
# TYPE stirling_camera_subpages_total counter
stirling_camera_subpages_total 317
# HELP stirling_http_refused_total Refused requests.
# TYPE stirling_http_refused_total counter
stirling_http_refused_total{reason="host"} 1
stirling_http_refused_total{reason="connections"} 2
# HELP stirling_x Two labels, a quote and a backslash.
# TYPE stirling_x gauge
stirling_x{z="1",a="say \"hi\" \\ there"} 1.5
# HELP go_gc_duration_seconds A summary.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.25
go_gc_duration_seconds_count 7
# HELP stirling_h_seconds A histogram.
# TYPE stirling_h_seconds histogram
stirling_h_seconds_bucket{le="0.1"} 3
stirling_h_seconds_bucket{le="+Inf"} 4
stirling_h_seconds_sum 0.5
stirling_h_seconds_count 4
`

func TestParse(t *testing.T) {
	got, err := ParseString(page)
	if err != nil {
		t.Fatal(err)
	}
	want := Series{
		`stirling_camera_subpages_total`:                    317,
		`stirling_http_refused_total{reason="host"}`:        1,
		`stirling_http_refused_total{reason="connections"}`: 2,
		`stirling_x{a="say \"hi\" \\ there",z="1"}`:         1.5,
		`go_gc_duration_seconds{quantile="0.5"}`:            0.001,
		`go_gc_duration_seconds_sum`:                        0.25,
		`go_gc_duration_seconds_count`:                      7,
		`stirling_h_seconds_bucket{le="0.1"}`:               3,
		`stirling_h_seconds_bucket{le="+Inf"}`:              4,
		`stirling_h_seconds_sum`:                            0.5,
		`stirling_h_seconds_count`:                          4,
	}
	if !maps.Equal(got, want) {
		t.Errorf("Parse:\n got %v\nwant %v", got, want)
	}
	if s := got.Sum("stirling_http_refused_total"); s != 3 {
		t.Errorf("Sum = %v, want 3", s)
	}
	ws := got.WithSums()
	if ws["stirling_http_refused_total"] != 3 || ws[`stirling_http_refused_total{reason="host"}`] != 1 || ws["stirling_camera_subpages_total"] != 317 {
		t.Errorf("WithSums: %v", ws)
	}
	if _, ok := got["stirling_http_refused_total"]; ok {
		t.Error("WithSums changed the Series it was called on")
	}
}

func TestParseRefusesBadPages(t *testing.T) {
	for _, bad := range []string{
		"stirling_x 1 2 3 4\n",
		"stirling_x{a=\"1\" 1\n",
		"# TYPE stirling_x counter\nstirling_x 1\n# TYPE stirling_x counter\nstirling_x 2\n",
		"stirling_x one\n",
	} {
		if s, err := ParseString(bad); err == nil {
			t.Errorf("ParseString(%q) = %v, want an error", bad, s)
		}
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	s, raw, err := Scrape(t.Context(), nil, srv.URL+"/metrics")
	if err != nil || raw != page || s["stirling_camera_subpages_total"] != 317 {
		t.Fatalf("Scrape = %v, %d bytes, %v", s, len(raw), err)
	}
	if _, _, err := Scrape(t.Context(), nil, srv.URL+"/other"); !errors.Is(err, ErrStatus) {
		t.Fatalf("Scrape of a 404 = %v, want ErrStatus", err)
	}
}
