package status

import (
	"strings"
	"time"
)

// metrics turns a snapshot into samples: the server's built-in families
// followed by snap.Counters. Built-in names all start with "stirling_"; the
// lead's counters should use other names (e.g. "stirling_pipeline_...").
func (s *Server) metrics(snap Snapshot) []Metric {
	ms := make([]Metric, 0, 32+len(snap.Readings)*3+len(snap.Publishers)*8+len(snap.Counters))
	now := s.opts.Clock.Now()
	h := s.health(snap, true)
	live := true
	for _, c := range h.Checks {
		if !c.OK && !strings.HasPrefix(c.Name, CheckPublisherPrefix) {
			live = false
		}
	}
	ms = append(ms,
		Metric{Name: "stirling_up", Help: "1 while the agent's status server answers.", Type: Gauge, Value: 1},
		Metric{Name: "stirling_live", Help: "1 when /livez is 200: the sensors produce and the spool appends.", Type: Gauge, Value: b2f(live)},
		Metric{Name: "stirling_healthy", Help: "1 when /healthz is 200: live, and every publisher delivers or has nothing waiting.", Type: Gauge, Value: b2f(h.OK)},
	)
	for _, c := range h.Checks {
		ms = append(ms, Metric{Name: "stirling_health_check", Help: "1 when the health check passes (see /healthz for the reasons).", Type: Gauge,
			Labels: []Label{{"check", c.Name}}, Value: b2f(c.OK)})
	}
	ms = append(ms,
		Metric{Name: "stirling_uptime_seconds", Help: "Seconds since the status server started.", Type: Gauge, Value: now.Sub(s.started).Seconds()},
	)
	if snap.EngineState != "" {
		ms = append(ms, Metric{Name: "stirling_engine_state", Help: "The engine state, as a label; the value is always 1.", Type: Gauge,
			Labels: []Label{{"state", snap.EngineState}}, Value: 1})
	}
	ms = appendTime(ms, "stirling_last_delivered_timestamp_seconds", "Unix time a publisher last got an acknowledgement; 0 when never.", snap.LastDelivered)
	ms = appendTime(ms, "stirling_last_spooled_timestamp_seconds", "Unix time a batch was last written to the spool; 0 when never.", snap.LastSpooled)
	for _, r := range snap.Readings {
		l := []Label{{"metric", r.Metric}, {"unit", r.Unit}}
		ms = append(ms,
			Metric{Name: "stirling_reading", Help: "Latest value of each reading, in its unit.", Type: Gauge, Labels: l, Value: r.Value},
			Metric{Name: "stirling_reading_good", Help: "1 when the latest reading's quality is GOOD.", Type: Gauge, Labels: l[:1], Value: b2f(r.Quality == "GOOD")},
		)
		if !r.Time.IsZero() {
			ms = append(ms, Metric{Name: "stirling_reading_age_seconds", Help: "Age of the latest reading.", Type: Gauge, Labels: l[:1], Value: now.Sub(r.Time).Seconds()})
		}
	}
	for _, p := range snap.Publishers {
		l := []Label{{"publisher", p.Name}}
		ms = append(ms,
			Metric{Name: "stirling_publisher_state", Help: "The publisher's state, as a label; the value is always 1.", Type: Gauge, Labels: []Label{{"publisher", p.Name}, {"state", p.State}}, Value: 1},
			Metric{Name: "stirling_publisher_delivered_records", Help: "Records the publisher delivered and got acknowledged.", Type: Counter, Labels: l, Value: float64(p.Delivered)},
			Metric{Name: "stirling_publisher_retried_records", Help: "Records sent again after a retryable failure.", Type: Counter, Labels: l, Value: float64(p.Retried)},
			Metric{Name: "stirling_publisher_rejected_records", Help: "Records refused for good by the destination.", Type: Counter, Labels: l, Value: float64(p.Rejected)},
			Metric{Name: "stirling_publisher_lag_records", Help: "Records in the spool the publisher has not delivered yet.", Type: Gauge, Labels: l, Value: float64(p.LagRecords)},
			Metric{Name: "stirling_publisher_lag_seconds", Help: "Age of the oldest record the publisher has not delivered yet.", Type: Gauge, Labels: l, Value: p.LagSeconds},
			Metric{Name: "stirling_publisher_error", Help: "1 when the publisher's last attempt failed.", Type: Gauge, Labels: l, Value: b2f(p.failing())},
		)
		ms = appendTime(ms, "stirling_publisher_last_success_timestamp_seconds", "Unix time of the publisher's last acknowledged batch; 0 when never.", p.LastSuccess, l...)
	}
	sp := snap.Spool
	ms = append(ms,
		Metric{Name: "stirling_spool_depth_records", Help: "Records on disk not yet delivered by every publisher.", Type: Gauge, Value: float64(sp.DepthRecords)},
		Metric{Name: "stirling_spool_depth_bytes", Help: "Bytes the spool holds on disk.", Type: Gauge, Value: float64(sp.DepthBytes)},
		Metric{Name: "stirling_spool_limit_bytes", Help: "Configured spool size cap; 0 when unlimited.", Type: Gauge, Value: float64(sp.LimitBytes)},
		Metric{Name: "stirling_spool_dropped_records", Help: "Records dropped because the spool was full.", Type: Counter, Value: float64(sp.DroppedRecords)},
		Metric{Name: "stirling_spool_corrupt_skipped_records", Help: "Records skipped because they failed their checksum.", Type: Counter, Value: float64(sp.CorruptSkipped)},
		Metric{Name: "stirling_spool_lost_readings", Help: "Readings lost because appending them to the spool failed, by cause: no_space (ENOSPC, EDQUOT) or write_error (any other).", Type: Counter,
			Labels: []Label{{"reason", "no_space"}}, Value: float64(sp.LostReadingsNoSpace)},
		Metric{Name: "stirling_spool_lost_readings", Type: Counter,
			Labels: []Label{{"reason", "write_error"}}, Value: float64(sp.LostReadings - min(sp.LostReadings, sp.LostReadingsNoSpace))},
		Metric{Name: "stirling_spool_lost_batches", Help: "Batches lost because appending them to the spool failed.", Type: Counter, Value: float64(sp.LostBatches)},
		Metric{Name: "stirling_status_sse_clients", Help: "Open /events streams.", Type: Gauge, Value: float64(s.sseClients.Load())},
		Metric{Name: "stirling_status_sse_events", Help: "Events broadcast to /events streams.", Type: Counter, Value: float64(s.sseEvents.Load())},
		Metric{Name: "stirling_status_sse_dropped_events", Help: "Events a slow /events client missed.", Type: Counter, Value: float64(s.sseDropped.Load())},
	)
	ms = s.appendHTTPMetrics(ms)
	return append(ms, snap.Counters...)
}

func appendTime(ms []Metric, name, help string, t time.Time, l ...Label) []Metric {
	v := 0.0
	if !t.IsZero() {
		v = float64(t.UnixNano()) / 1e9
	}
	return append(ms, Metric{Name: name, Help: help, Type: Gauge, Labels: l, Value: v})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// failing reports whether the publisher's last attempt failed: it has an
// error newer than its last success (an error without a time counts as new).
func (p PublisherStatus) failing() bool {
	return p.LastError != "" && (p.LastErrorTime.IsZero() || p.LastErrorTime.After(p.LastSuccess))
}
