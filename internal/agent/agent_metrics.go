package agent

import (
	"sort"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish/greengrass"
	"github.com/stirling-iot/stirling/publish/mqtt"
	"github.com/stirling-iot/stirling/publish/sitewise"
)

// metricSet collects /metrics samples.
type metricSet []status.Metric

func (m *metricSet) add(typ status.MetricType, name, help string, v float64, labels ...string) {
	var ls []status.Label
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, status.Label{Name: labels[i], Value: labels[i+1]})
	}
	*m = append(*m, status.Metric{Name: "stirling_" + name, Help: help, Type: typ, Labels: ls, Value: v})
}

func (m *metricSet) counter(name, help string, v uint64, labels ...string) {
	m.add(status.Counter, name, help, float64(v), labels...)
}

func (m *metricSet) gauge(name, help string, v float64, labels ...string) {
	m.add(status.Gauge, name, help, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// perKey adds one sample per map key, in a stable order.
func (m *metricSet) perKey(name, help, label string, vals map[string]uint64) {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.counter(name, help, vals[k], label, k)
	}
}

// counters renders every component's Stats for /metrics.
func (a *agent) counters(ps *pipeline.Stats, ss *spool.Stats) []status.Metric {
	var m metricSet
	sens := a.sens.Load()

	// Sensors.
	cs := a.cameraStats()
	m.counter("camera_subpages", "MLX90640 subpages read, validated and computed.", cs.Subpages)
	m.counter("camera_retries", "Subpage re-reads because the chip moved on during a read.", cs.Retries)
	m.counter("camera_corrupt_frames", "Subpages rejected for 0x7FFF markers.", cs.CorruptFrames)
	m.counter("camera_timeouts", "Waits for new thermal data that timed out.", cs.Timeouts)
	m.counter("camera_nacks", "I2C transactions the camera did not acknowledge.", cs.NACKs)
	m.counter("camera_short_reads", "I2C reads that returned fewer bytes than asked.", cs.ShortReads)
	m.counter("camera_bus_errors", "Other I2C errors.", cs.BusErrors)
	m.counter("camera_frame_errors", "Thermal frames that failed (any cause).", a.camFrameErrors.Load())
	m.counter("camera_opens", "Times the camera was opened and configured.", a.camOpens.Load())
	m.counter("camera_open_errors", "Failed attempts to open the camera.", a.camOpenErrors.Load())
	m.counter("camera_resets", "Camera re-initialisations after repeated failures.", a.camResets.Load())
	if t := a.tach.Load(); t != nil {
		ts := t.Stats()
		m.counter("tach_edges", "Edges read from the tachometer line.", ts.Edges)
		m.counter("tach_marks", "Flywheel marks accepted.", ts.Marks)
		m.counter("tach_glitches", "Edges rejected as glitches or chatter.", ts.Glitches)
		m.counter("tach_outliers", "Periods rejected as outliers (missed or extra marks).", ts.Outliers)
		m.counter("tach_overflows", "Kernel event FIFO overflows (sequence gaps).", ts.Overflows)
		m.counter("tach_lost_edges", "Edges lost in FIFO overflows.", ts.Lost)
		m.counter("tach_stalls", "Flywheel stop events.", ts.Stalls)
		m.counter("tach_starts", "Flywheel start events.", ts.Starts)
		m.counter("tach_dropped", "Speeds or events dropped because the pipeline was full.", ts.Dropped)
		m.gauge("tach_rpm", "Last flywheel speed, RPM.", ts.RPM)
		m.gauge("tach_precise", "1 when edges carry kernel timestamps, 0 for the user-space fallback (lower precision).", b2f(sens != nil && sens.precise))
	}
	m.counter("tach_restarts", "Tachometer restarts after its edge source failed.", a.tachRestarts.Load())
	m.counter("roi_reloads", "ROI file reloads applied.", a.roiReloads.Load())
	m.counter("roi_reload_errors", "ROI file reloads rejected.", a.roiReloadErrors.Load())
	if sens != nil && sens.sim != nil {
		for _, s := range sens.sim.metrics() {
			m = append(m, s)
		}
	}

	// Pipeline.
	m.counter("pipeline_frames", "Thermal frames processed.", ps.Frames)
	m.counter("pipeline_speeds", "Tachometer speeds processed.", ps.Speeds)
	m.counter("pipeline_readings_in", "Samples entering validation.", ps.ReadingsIn)
	m.counter("pipeline_readings_out", "Readings put into batches.", ps.ReadingsOut)
	m.perKey("pipeline_out_of_range", "Samples outside their metric's physical range (sent with quality BAD).", "metric", ps.OutOfRange)
	m.counter("pipeline_nan", "NaN or infinite samples (sent with quality BAD).", ps.NaN)
	m.perKey("pipeline_spikes", "Samples rejected by the Hampel spike filter.", "metric", ps.Spikes)
	m.perKey("pipeline_roi_bad", "Frames whose region statistics were BAD (too few valid or fresh pixels).", "roi", ps.ROIBad)
	m.counter("pipeline_deadband_suppressed", "Window aggregates held back by a deadband.", ps.DeadbandSuppressed)
	m.counter("pipeline_late", "Samples for an already closed window.", ps.Late)
	m.counter("pipeline_windows", "Aggregation windows closed.", ps.Windows)
	m.counter("pipeline_batches", "Batches finished.", ps.Batches)
	m.counter("pipeline_batches_dropped", "Batches lost because the spool did not keep up.", ps.BatchesDropped)
	m.counter("pipeline_readings_dropped", "Readings lost because the spool did not keep up.", ps.ReadingsDropped)
	m.counter("pipeline_state_changes", "Engine state changes.", ps.StateChanges)
	m.gauge("pipeline_engine_state", "Engine state as a code (see docs/pipeline.md).", float64(ps.EngineState))

	// Spool.
	ws := a.writer.Stats()
	m.counter("spool_records_appended", "Records (batches) appended to the spool.", ss.RecordsAppended)
	m.counter("spool_bytes_appended", "Payload bytes appended.", ss.BytesAppended)
	m.counter("spool_bytes_written", "All bytes written into the spool directory (framing, cursors, quarantine included).", ss.BytesWritten)
	m.counter("spool_syncs", "fsync calls.", ss.Syncs)
	m.counter("spool_sync_errors", "Failed fsync calls.", ss.SyncErrors)
	m.counter("spool_append_errors", "Failed appends (for example a full disk).", ss.AppendErrors)
	m.counter("spool_dropped_full", "Records dropped (oldest first) because the spool reached max_bytes.", ss.DroppedFull)
	m.counter("spool_dropped_age", "Records dropped because they exceeded max_age.", ss.DroppedAge)
	m.counter("spool_corrupt_skipped", "Corrupt spool regions skipped.", ss.CorruptSkipped)
	m.counter("spool_torn_tails", "Torn tails truncated at start.", ss.TornTails)
	m.counter("spool_quarantined", "Records written to the quarantine file.", ss.Quarantined)
	m.gauge("spool_segments", "Segment files on disk.", float64(ss.Segments))
	m.gauge("spool_disk_bytes", "Bytes of segment files on disk.", float64(ss.DiskBytes))
	m.gauge("spool_max_bytes", "Configured bound on the spool's size.", float64(ss.MaxBytes))
	m.counter("spool_writer_readings", "Readings numbered and spooled.", ws.Readings)
	m.counter("spool_writer_errors", "Batches lost because encoding or appending failed.", ws.Errors)
	m.gauge("spool_last_seq", "Newest reading sequence number.", float64(ws.LastSeq))
	for _, c := range ss.Cursors {
		m.gauge("spool_cursor_depth", "Records a publisher has not acknowledged.", float64(c.Depth), "publisher", c.Name)
		m.counter("spool_cursor_dropped", "Records dropped before this publisher read them.", c.Dropped, "publisher", c.Name)
	}

	// Publishers (state, delivered, lag come from the status server's own
	// publisher families).
	for _, r := range a.runners {
		rs := r.Stats()
		n := rs.Name
		m.counter("publisher_attempts", "Send attempts.", rs.Attempts, "publisher", n)
		m.counter("publisher_failures", "Send attempts that left readings to retry.", rs.Failures, "publisher", n)
	}
	for _, p := range a.pubs {
		n := p.Name()
		switch p := p.(type) {
		case *mqtt.Publisher:
			s := p.Stats()
			m.gauge("mqtt_connected", "1 while connected to the broker.", b2f(s.Connected), "publisher", n)
			m.counter("mqtt_connects", "Successful MQTT connections.", s.Connects, "publisher", n)
			m.counter("mqtt_connect_failures", "Failed MQTT connection attempts.", s.ConnectFailures, "publisher", n)
			m.counter("mqtt_disconnects", "Connections lost.", s.Disconnects, "publisher", n)
			m.counter("mqtt_published", "Messages published at QoS 1.", s.Published, "publisher", n)
			m.counter("mqtt_acked", "Messages acknowledged with PUBACK.", s.Acked, "publisher", n)
			m.counter("mqtt_failed", "Messages whose PUBACK never came (retried).", s.Failed, "publisher", n)
			m.gauge("mqtt_in_flight", "Messages awaiting PUBACK.", float64(s.InFlight), "publisher", n)
		case *greengrass.Publisher:
			s := p.Stats()
			m.counter("greengrass_queued_in_nucleus", "Readings the nucleus queued (IPC success: NOT an IoT Core acknowledgement).", s.ReadingsQueuedInNucleus, "publisher", n)
			m.counter("greengrass_rejected", "Readings rejected by IPC.", s.Rejected, "publisher", n)
		case *sitewise.Publisher:
			s := p.Stats()
			m.counter("sitewise_requests", "BatchPutAssetPropertyValue requests.", s.Requests, "publisher", n)
			m.counter("sitewise_out_of_window", "Readings rejected for timestamps outside SiteWise's window.", s.OutOfWindow, "publisher", n)
			m.counter("sitewise_throttled_waits", "Requests delayed by the per-property rate limit.", s.ThrottledWaits, "publisher", n)
			m.perKey("sitewise_rejected_by_code", "Rejected readings by error code.", "code", s.RejectedByCode)
			m.perKey("sitewise_retried_by_code", "Retried readings by error code.", "code", s.RetriedByCode)
		}
	}
	if a.gg != nil {
		s := a.gg.Stats()
		m.counter("greengrass_ipc_connects", "IPC CONNECT handshakes.", s.Connects)
		m.counter("greengrass_ipc_reconnects", "IPC reconnections.", s.Reconnects)
		m.counter("greengrass_config_applied", "Deployment configurations applied.", s.ConfigApplied)
		m.counter("greengrass_config_rejected", "Deployment configurations rejected by validation.", s.ConfigRejected)
		m.perKey("greengrass_ipc_errors", "IPC errors by code.", "code", s.Errors)
	}
	return m
}
