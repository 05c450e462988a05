package spool

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollectors: the spool and the writer report their Stats, and their
// names pass the Prometheus lint.
func TestCollectors(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Opts{Cursors: []string{"a"}})
	for i := range 3 {
		if _, err := s.Append(payloadFor(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWriter(s, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s, w)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP stirling_spool_appended_records_total Records (one batch each) appended to the spool.
# TYPE stirling_spool_appended_records_total counter
stirling_spool_appended_records_total 3
# HELP stirling_spool_cursor_dropped_records_total Records dropped before this cursor read them.
# TYPE stirling_spool_cursor_dropped_records_total counter
stirling_spool_cursor_dropped_records_total{cursor="a"} 0
# HELP stirling_last_spooled_timestamp_seconds Unix time a batch was last written to the spool; 0 when never.
# TYPE stirling_last_spooled_timestamp_seconds gauge
stirling_last_spooled_timestamp_seconds 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stirling_spool_appended_records_total",
		"stirling_spool_cursor_dropped_records_total", "stirling_last_spooled_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	for _, c := range []prometheus.Collector{s, w} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
