package status

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReadingFamiliesByUnit: each reading goes to the family of its unit,
// and the server's families pass the Prometheus naming lint.
func TestReadingFamiliesByUnit(t *testing.T) {
	src := readingsSource{fakeSource: newFakeSource(time.Hour), readings: []Reading{
		{Metric: "rpm", Unit: "RPM", Value: 1500, Quality: "GOOD"},
		{Metric: "hot_cylinder_c", Unit: "Cel", Value: 120.5, Quality: "GOOD"},
		{Metric: "delta_t", Unit: "K", Value: 90, Quality: "UNCERTAIN"},
		{Metric: "carnot_limit", Unit: "1", Value: 0.25, Quality: "GOOD"},
		{Metric: "odd", Unit: "m/s", Value: 3, Quality: "GOOD"},
	}}
	srv := newTestServer(t, src, nil)
	want := `
# HELP stirling_reading_celsius Latest value of each reading measured in degrees Celsius.
# TYPE stirling_reading_celsius gauge
stirling_reading_celsius{metric="hot_cylinder_c"} 120.5
# HELP stirling_reading_kelvin Latest value of each reading measured in kelvin (temperature differences).
# TYPE stirling_reading_kelvin gauge
stirling_reading_kelvin{metric="delta_t"} 90
# HELP stirling_reading_other Latest value of each reading in a unit without its own family.
# TYPE stirling_reading_other gauge
stirling_reading_other{metric="odd",unit="m/s"} 3
# HELP stirling_reading_rpm Latest value of each reading measured in revolutions per minute.
# TYPE stirling_reading_rpm gauge
stirling_reading_rpm{metric="rpm"} 1500
# HELP stirling_reading_unitless Latest value of each dimensionless reading (ratios, pixel counts, flags, codes).
# TYPE stirling_reading_unitless gauge
stirling_reading_unitless{metric="carnot_limit"} 0.25
`
	if err := testutil.CollectAndCompare(srv, strings.NewReader(want), "stirling_reading_rpm", "stirling_reading_celsius",
		"stirling_reading_kelvin", "stirling_reading_unitless", "stirling_reading_other"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(srv)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// readingsSource is the fake agent with the given readings.
type readingsSource struct {
	*fakeSource
	readings []Reading
}

func (s readingsSource) Snapshot() Snapshot {
	snap := s.fakeSource.Snapshot()
	snap.Readings = s.readings
	return snap
}
