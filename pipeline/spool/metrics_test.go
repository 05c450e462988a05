package spool

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollectors: the spool reports its Stats, and its names pass the
// Prometheus lint. The writer's collector is tested in pipeline.
func TestCollectors(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Opts{Cursors: []string{"a"}})
	for i := range 3 {
		if _, err := s.Append(payloadFor(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
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
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stirling_spool_appended_records_total",
		"stirling_spool_cursor_dropped_records_total"); err != nil {
		t.Error(err)
	}
	for _, c := range []prometheus.Collector{s} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
