package pipeline

import "github.com/prometheus/client_golang/prometheus"

// The writer is a prometheus.Collector of its SpoolWriterStats. Its losses are on
// the status server's stirling_spool_lost_* families.
var _ prometheus.Collector = (*SpoolWriter)(nil)

var (
	writerReadingsDesc = prometheus.NewDesc("stirling_spool_writer_readings_total", "Readings numbered and spooled.", nil, nil)
	lastSeqDesc        = prometheus.NewDesc("stirling_spool_last_seq", "Newest reading sequence number.", nil, nil)
	lastSpooledDesc    = prometheus.NewDesc("stirling_last_spooled_timestamp_seconds", "Unix time a batch was last written to the spool; 0 when never.", nil, nil)
)

// Describe implements prometheus.Collector.
func (w *SpoolWriter) Describe(ch chan<- *prometheus.Desc) {
	ch <- writerReadingsDesc
	ch <- lastSeqDesc
	ch <- lastSpooledDesc
}

// Collect implements prometheus.Collector from one SpoolWriterStats.
func (w *SpoolWriter) Collect(ch chan<- prometheus.Metric) {
	st := w.Stats()
	last := 0.0
	if !st.LastAppend.IsZero() {
		last = float64(st.LastAppend.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(writerReadingsDesc, prometheus.CounterValue, float64(st.Readings))
	ch <- prometheus.MustNewConstMetric(lastSeqDesc, prometheus.GaugeValue, float64(st.LastSeq))
	ch <- prometheus.MustNewConstMetric(lastSpooledDesc, prometheus.GaugeValue, last)
}
