package status

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stirling-iot/stirling/internal/webguard"
)

// The server is the collector of what it renders from the Snapshot: health,
// the latest readings, the publishers' health, the spool's fill and loss,
// and its own HTTP and event-stream counters.
var _ prometheus.Collector = (*Server)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_"+name, help, labels, nil)
}

var (
	upDesc          = desc("up", "1 while the agent's status server answers.")
	liveDesc        = desc("live", "1 when /livez is 200: the sensors produce and the spool appends.")
	healthyDesc     = desc("healthy", "1 when /healthz is 200: live, and every publisher delivers or has nothing waiting.")
	healthCheckDesc = desc("health_check", "1 when the health check passes (see /healthz for the reasons).", "check")
	uptimeDesc      = desc("uptime_seconds", "Seconds since the status server started.")
	engineStateDesc = desc("engine_state", "The engine state, as a label; the value is always 1.", "state")
	lastDelivDesc   = desc("last_delivered_timestamp_seconds", "Unix time a publisher last got an acknowledgement; 0 when never.")

	// One family per unit: readingDescs maps a reading's unit (UCUM, as
	// the pipeline writes it) to its family; any other unit goes to
	// readingOtherDesc, with the unit as a label.
	readingCelsiusDesc = desc("reading_celsius", "Latest value of each reading measured in degrees Celsius.", "metric")
	readingDescs       = map[string]*prometheus.Desc{
		"rpm":  desc("reading_rpm", "Latest value of each reading measured in revolutions per minute.", "metric"),
		"cel":  readingCelsiusDesc,
		"degc": readingCelsiusDesc,
		"k":    desc("reading_kelvin", "Latest value of each reading measured in kelvin (temperature differences).", "metric"),
		"1":    desc("reading_unitless", "Latest value of each dimensionless reading (ratios, pixel counts, flags, codes).", "metric"),
	}
	readingOtherDesc = desc("reading_other", "Latest value of each reading in a unit without its own family.", "metric", "unit")
	readingGoodDesc  = desc("reading_good", "1 when the latest reading's quality is GOOD.", "metric")
	readingAgeDesc   = desc("reading_age_seconds", "Age of the latest reading.", "metric")

	pubStateDesc     = desc("publisher_state", "The publisher's state, as a label; the value is always 1.", "publisher", "state")
	pubDeliveredDesc = desc("publisher_delivered_readings_total", "Readings the publisher delivered and got acknowledged.", "publisher")
	pubRetriedDesc   = desc("publisher_retried_readings_total", "Readings sent again after a retryable failure.", "publisher")
	pubRejectedDesc  = desc("publisher_rejected_readings_total", "Readings refused for good by the destination.", "publisher")
	pubLagDesc       = desc("publisher_lag_records", "Spool records (batches) the publisher has not delivered yet.", "publisher")
	pubLagSecDesc    = desc("publisher_lag_seconds", "Age of the oldest reading the publisher has not delivered yet.", "publisher")
	pubErrorDesc     = desc("publisher_error", "1 when the publisher's last attempt failed.", "publisher")
	pubSuccessDesc   = desc("publisher_last_success_timestamp_seconds", "Unix time of the publisher's last acknowledged batch; 0 when never.", "publisher")

	spDepthDesc      = desc("spool_depth_records", "Spool records (batches) on disk not yet delivered by every publisher.")
	spBytesDesc      = desc("spool_depth_bytes", "Bytes the spool holds on disk.")
	spLimitDesc      = desc("spool_limit_bytes", "Configured spool size cap; 0 when unlimited.")
	spDroppedDesc    = desc("spool_dropped_records_total", "Spool records (batches) dropped, oldest first, by cause: full (the spool reached max_bytes) or age (older than max_age).", "reason")
	spCorruptDesc    = desc("spool_corrupt_skipped_records_total", "Spool records skipped because they failed their checksum.")
	lostReadingsDesc = desc("spool_lost_readings_total", "Readings lost because appending them to the spool failed, by cause: no_space (ENOSPC, EDQUOT) or write_error (any other).", "reason")
	lostBatchesDesc  = desc("spool_lost_batches_total", "Batches lost because appending them to the spool failed.")

	sseClientsDesc = desc("status_sse_clients", "Open /events streams.")
	sseEventsDesc  = desc("status_sse_events_total", "Events broadcast to /events streams.")
	sseDroppedDesc = desc("status_sse_dropped_events_total", "Events a slow /events client missed.")
	httpConnsDesc  = desc("http_connections", "Connections the status server holds now.")
	httpMaxDesc    = desc("http_max_connections", "The status server's connection cap.")
	httpRefDesc    = desc("http_refused_total", "Requests and connections the status server refused: host (not in the allowlist), origin (cross-origin state change), connections (over the connection cap), event_streams (over the /events cap).", "reason")
)

// Describe sends the descriptors of every family Collect may send.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, liveDesc, healthyDesc, healthCheckDesc, uptimeDesc, engineStateDesc,
		lastDelivDesc, readingOtherDesc, readingGoodDesc, readingAgeDesc,
		pubStateDesc, pubDeliveredDesc, pubRetriedDesc, pubRejectedDesc, pubLagDesc, pubLagSecDesc, pubErrorDesc, pubSuccessDesc,
		spDepthDesc, spBytesDesc, spLimitDesc, spDroppedDesc, spCorruptDesc, lostReadingsDesc, lostBatchesDesc,
		sseClientsDesc, sseEventsDesc, sseDroppedDesc, httpConnsDesc, httpMaxDesc, httpRefDesc} {
		ch <- d
	}
	for _, d := range readingDescs {
		ch <- d // a Desc under two units is sent twice; the registry keeps one
	}
}

// Collect takes one Snapshot and sends the families it renders.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	snap := s.src.Snapshot()
	now := s.opts.Clock.Now()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}

	h := s.health(snap, true)
	live := true
	for _, c := range h.Checks {
		if !c.OK && !strings.HasPrefix(c.Name, CheckPublisherPrefix) {
			live = false
		}
	}
	gauge(upDesc, 1)
	gauge(liveDesc, b2f(live))
	gauge(healthyDesc, b2f(h.OK))
	for _, c := range h.Checks {
		gauge(healthCheckDesc, b2f(c.OK), c.Name)
	}
	gauge(uptimeDesc, now.Sub(s.started).Seconds())
	if snap.EngineState != "" {
		gauge(engineStateDesc, 1, snap.EngineState)
	}
	gauge(lastDelivDesc, unixSeconds(snap.LastDelivered))

	for _, r := range snap.Readings {
		if d := readingDescs[strings.ToLower(r.Unit)]; d != nil {
			gauge(d, r.Value, r.Metric)
		} else {
			gauge(readingOtherDesc, r.Value, r.Metric, r.Unit)
		}
		gauge(readingGoodDesc, b2f(r.Quality == "GOOD"), r.Metric)
		if !r.Time.IsZero() {
			gauge(readingAgeDesc, now.Sub(r.Time).Seconds(), r.Metric)
		}
	}
	for _, p := range snap.Publishers {
		gauge(pubStateDesc, 1, p.Name, p.State)
		counter(pubDeliveredDesc, p.Delivered, p.Name)
		counter(pubRetriedDesc, p.Retried, p.Name)
		counter(pubRejectedDesc, p.Rejected, p.Name)
		gauge(pubLagDesc, float64(p.LagRecords), p.Name)
		gauge(pubLagSecDesc, p.LagSeconds, p.Name)
		gauge(pubErrorDesc, b2f(p.failing()), p.Name)
		gauge(pubSuccessDesc, unixSeconds(p.LastSuccess), p.Name)
	}

	sp := snap.Spool
	gauge(spDepthDesc, float64(sp.DepthRecords))
	gauge(spBytesDesc, float64(sp.DepthBytes))
	gauge(spLimitDesc, float64(sp.LimitBytes))
	full := min(sp.DroppedFull, sp.DroppedRecords)
	counter(spDroppedDesc, full, "full")
	counter(spDroppedDesc, sp.DroppedRecords-full, "age")
	counter(spCorruptDesc, sp.CorruptSkipped)
	counter(lostReadingsDesc, sp.LostReadingsNoSpace, "no_space")
	counter(lostReadingsDesc, sp.LostReadings-min(sp.LostReadings, sp.LostReadingsNoSpace), "write_error")
	counter(lostBatchesDesc, sp.LostBatches)

	gauge(sseClientsDesc, float64(s.sseClients.Load()))
	counter(sseEventsDesc, s.sseEvents.Load())
	counter(sseDroppedDesc, s.sseDropped.Load())
	var open int64
	var refusedConns uint64
	if s.limiter != nil {
		open, refusedConns = s.limiter.Open(), s.limiter.Refused()
	}
	gauge(httpConnsDesc, float64(open))
	gauge(httpMaxDesc, float64(s.opts.MaxConns))
	counter(httpRefDesc, s.guard.Refused(webguard.ReasonHost), webguard.ReasonHost)
	counter(httpRefDesc, s.guard.Refused(webguard.ReasonOrigin), webguard.ReasonOrigin)
	counter(httpRefDesc, refusedConns, webguard.ReasonConnections)
	counter(httpRefDesc, s.sseRefused.Load(), webguard.ReasonStreams)
}

// unixSeconds is t as Unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
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
