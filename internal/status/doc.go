// Package status is the agent's own HTTP server: a live status page (RPM
// chart, thermal heat map with the three regions, engine state, publisher
// health, spool depth), Prometheus metrics, health checks that mean
// "data is collected, kept and delivered", and the latest thermal frame as JSON for calibration.
//
// The server knows nothing of the pipeline or the publishers: it reads
// everything through a Source, which cmd/stirling implements.
//
// Endpoints:
//
//	/             the live page (embedded, no external assets)
//	/events       server-sent events: "status" every second, "frame" when a new frame arrives
//	/metrics      Prometheus text exposition (Opts.Metrics, via promhttp)
//	/livez        200 when the sensors produce and the spool appends (LiveWindow), else 503; JSON checks
//	/healthz      /livez, plus every publisher delivered within HealthMaxSilence or has nothing waiting
//	/api/status   the page's data as JSON
//	/api/frame    the latest full thermal frame as JSON (see FrameDoc)
//	/api/ramp     the colour ramp stops the heat map uses
package status
