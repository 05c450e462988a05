package pipeline

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// The pipeline is a prometheus.Collector of its Stats. The engine state and
// the latest readings are on the status server's families.
var _ prometheus.Collector = (*Pipeline)(nil)

func pipeDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_pipeline_"+name, help, labels, nil)
}

var (
	framesDesc       = pipeDesc("frames_total", "Thermal frames processed.")
	speedsDesc       = pipeDesc("speeds_total", "Tachometer speeds processed.")
	readingsInDesc   = pipeDesc("readings_in_total", "Samples entering validation.")
	readingsOutDesc  = pipeDesc("readings_out_total", "Readings put into batches.")
	outOfRangeDesc   = pipeDesc("out_of_range_total", "Samples outside their metric's physical range (sent with quality BAD).", "metric")
	nanDesc          = pipeDesc("nan_total", "NaN or infinite samples (sent with quality BAD).")
	spikesDesc       = pipeDesc("spikes_total", "Samples rejected by the Hampel spike filter.", "metric")
	roiBadDesc       = pipeDesc("roi_bad_total", "Frames whose region statistics were BAD (too few valid or fresh pixels).", "roi")
	deadbandDesc     = pipeDesc("deadband_suppressed_total", "Window aggregates held back by a deadband.")
	lateDesc         = pipeDesc("late_total", "Samples for an already closed window.")
	windowsDesc      = pipeDesc("windows_total", "Aggregation windows closed.")
	batchesDesc      = pipeDesc("batches_total", "Batches finished.")
	batchesDropDesc  = pipeDesc("batches_dropped_total", "Batches lost because the spool did not keep up.")
	readingsDropDesc = pipeDesc("readings_dropped_total", "Readings lost because the spool did not keep up.")
	stateChangesDesc = pipeDesc("state_changes_total", "Engine state changes.")
)

// Describe implements prometheus.Collector.
func (p *Pipeline) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{framesDesc, speedsDesc, readingsInDesc, readingsOutDesc, outOfRangeDesc, nanDesc,
		spikesDesc, roiBadDesc, deadbandDesc, lateDesc, windowsDesc, batchesDesc, batchesDropDesc, readingsDropDesc, stateChangesDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (p *Pipeline) Collect(ch chan<- prometheus.Metric) {
	st := p.Stats()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{framesDesc, st.Frames}, {speedsDesc, st.Speeds}, {readingsInDesc, st.ReadingsIn}, {readingsOutDesc, st.ReadingsOut},
		{nanDesc, st.NaN}, {deadbandDesc, st.DeadbandSuppressed}, {lateDesc, st.Late}, {windowsDesc, st.Windows},
		{batchesDesc, st.Batches}, {batchesDropDesc, st.BatchesDropped}, {readingsDropDesc, st.ReadingsDropped},
		{stateChangesDesc, st.StateChanges},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	perKey(ch, outOfRangeDesc, st.OutOfRange)
	perKey(ch, spikesDesc, st.Spikes)
	perKey(ch, roiBadDesc, st.ROIBad)
}

// perKey sends one counter per map key, in a stable order.
func perKey(ch chan<- prometheus.Metric, d *prometheus.Desc, vals map[string]uint64) {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(vals[k]), k)
	}
}
