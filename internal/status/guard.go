package status

import "github.com/stirling-iot/stirling/internal/webguard"

// appendHTTPMetrics adds the web server's own families: the connections it
// holds and what it refused, by reason.
func (s *Server) appendHTTPMetrics(ms []Metric) []Metric {
	var open int64
	var refusedConns uint64
	if s.limiter != nil {
		open, refusedConns = s.limiter.Open(), s.limiter.Refused()
	}
	const help = "Requests and connections the status server refused: host (not in the allowlist), origin (cross-origin state change), connections (over the connection cap), event_streams (over the /events cap)."
	refused := func(reason string, n uint64) Metric {
		return Metric{Name: "stirling_http_refused", Help: help, Type: Counter, Labels: []Label{{"reason", reason}}, Value: float64(n)}
	}
	return append(ms,
		Metric{Name: "stirling_http_connections", Help: "Connections the status server holds now.", Type: Gauge, Value: float64(open)},
		Metric{Name: "stirling_http_max_connections", Help: "The status server's connection cap.", Type: Gauge, Value: float64(s.opts.MaxConns)},
		refused(webguard.ReasonHost, s.guard.Refused(webguard.ReasonHost)),
		refused(webguard.ReasonOrigin, s.guard.Refused(webguard.ReasonOrigin)),
		refused(webguard.ReasonConnections, refusedConns),
		refused(webguard.ReasonStreams, s.sseRefused.Load()),
	)
}
