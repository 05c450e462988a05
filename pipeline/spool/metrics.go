package spool

import "github.com/prometheus/client_golang/prometheus"

// The spool is a prometheus.Collector of its Stats. The depth, size, limit,
// drops and corrupt records are on the status server's families (they are
// what the status page shows), so they are not here again.
var _ prometheus.Collector = (*Spool)(nil)

var (
	appendedRecordsDesc = prometheus.NewDesc("stirling_spool_appended_records_total", "Records (one batch each) appended to the spool.", nil, nil)
	appendedBytesDesc   = prometheus.NewDesc("stirling_spool_appended_bytes_total", "Payload bytes appended.", nil, nil)
	writtenBytesDesc    = prometheus.NewDesc("stirling_spool_written_bytes_total", "All bytes written into the spool directory (framing, cursors, quarantine included).", nil, nil)
	syncsDesc           = prometheus.NewDesc("stirling_spool_syncs_total", "fsync calls.", nil, nil)
	syncErrorsDesc      = prometheus.NewDesc("stirling_spool_sync_errors_total", "Failed fsync calls.", nil, nil)
	appendErrorsDesc    = prometheus.NewDesc("stirling_spool_append_errors_total", "Failed appends (for example a full disk).", nil, nil)
	tornTailsDesc       = prometheus.NewDesc("stirling_spool_torn_tails_total", "Torn tails truncated at start.", nil, nil)
	quarantinedDesc     = prometheus.NewDesc("stirling_spool_quarantined_total", "Records written to the quarantine file.", nil, nil)
	segmentsDesc        = prometheus.NewDesc("stirling_spool_segments", "Segment files on disk.", nil, nil)
	cursorDroppedDesc   = prometheus.NewDesc("stirling_spool_cursor_dropped_records_total", "Records dropped before this cursor read them.", []string{"cursor"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Spool) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{appendedRecordsDesc, appendedBytesDesc, writtenBytesDesc, syncsDesc, syncErrorsDesc,
		appendErrorsDesc, tornTailsDesc, quarantinedDesc, segmentsDesc, cursorDroppedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (s *Spool) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{appendedRecordsDesc, st.RecordsAppended}, {appendedBytesDesc, st.BytesAppended}, {writtenBytesDesc, st.BytesWritten},
		{syncsDesc, st.Syncs}, {syncErrorsDesc, st.SyncErrors}, {appendErrorsDesc, st.AppendErrors},
		{tornTailsDesc, st.TornTails}, {quarantinedDesc, st.Quarantined},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	ch <- prometheus.MustNewConstMetric(segmentsDesc, prometheus.GaugeValue, float64(st.Segments))
	for _, c := range st.Cursors {
		ch <- prometheus.MustNewConstMetric(cursorDroppedDesc, prometheus.CounterValue, float64(c.Dropped), c.Name)
	}
}
