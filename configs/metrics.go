package configs

import (
	"strings"
	"time"
)

// The names and default ranges below are plain data: they are the
// pipeline's metric table and the simulator's scenario and fault names,
// repeated here so that configs imports neither. A test in internal/agent
// checks that they agree with pipeline.Metrics, pipeline.DefaultOpts,
// sim.Scenarios and sim.FaultKinds.

// metricRange is one metric's default validation range.
type metricRange struct {
	name     string
	min, max float64
}

// metricRanges is the pipeline's metric table, in its order.
func metricRanges() []metricRange {
	return []metricRange{
		{"rpm", 0, 5000},
		{"hot_cylinder_c", -40, 400}, {"hot_cylinder_c_min", -40, 400}, {"hot_cylinder_c_max", -40, 400}, {"hot_cylinder_c_p90", -40, 400}, {"hot_cylinder_pixels", 0, 768},
		{"cold_cylinder_c", -40, 300}, {"cold_cylinder_c_min", -40, 300}, {"cold_cylinder_c_max", -40, 300}, {"cold_cylinder_c_p90", -40, 300}, {"cold_cylinder_pixels", 0, 768},
		{"flame_c", -40, 1200}, {"flame_c_min", -40, 1200}, {"flame_c_max", -40, 1200}, {"flame_c_p90", -40, 1200}, {"flame_pixels", 0, 768},
		{"delta_t", -100, 400},
		{"carnot_limit", 0, 1},
		{"flame_present", 0, 1},
		{"engine_state", 0, 5},
	}
}

// MetricNames are the metrics the pipeline emits, in its order: the keys
// pipeline.metrics accepts.
func MetricNames() []string {
	var out []string
	for _, m := range metricRanges() {
		out = append(out, m.name)
	}
	return out
}

// DefaultMetrics are the default validation ranges (no deadband).
func DefaultMetrics() map[string]Metric {
	out := map[string]Metric{}
	for _, m := range metricRanges() {
		out[m.name] = Metric{Min: m.min, Max: m.max}
	}
	return out
}

// SimScenarios are the simulator's scenario names.
func SimScenarios() []string {
	return []string{"run", "demo", "steady", "flame_out", "stall", "idle"}
}

// SimFaultKinds are the fault kinds the simulator understands: the GPIO
// line's, the engine's and the camera's.
func SimFaultKinds() []string {
	return []string{"missed_marks", "chatter", "edge_glitch", "gpio_overflow", "gpio_unplugged", "flame_out",
		"i2c_nack", "i2c_timeout", "i2c_flaky", "stuck_new_data", "corrupt_frames", "camera_unplugged"}
}

// FormatDuration formats d like time.Duration.String but without zero
// trailing units: 1h, 1m30s, 100ms (as pipeline.FormatDuration).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if len(s) > 2 && strings.HasSuffix(s, "0m") && (len(s) < 3 || s[len(s)-3] == 'h') {
		s = s[:len(s)-2]
	}
	return s
}
