package greengrass

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// The publisher and the IPC client are prometheus.Collectors of their
// Stats. The agent registers the client once, and every publisher that is a
// collector labelled with its name (publisher="...").
var (
	_ prometheus.Collector = (*Publisher)(nil)
	_ prometheus.Collector = (*Client)(nil)
)

var (
	queuedDesc = prometheus.NewDesc("stirling_greengrass_queued_in_nucleus_readings_total",
		"Readings the nucleus queued (IPC success: NOT an IoT Core acknowledgement).", nil, nil)
	rejectedDesc = prometheus.NewDesc("stirling_greengrass_rejected_readings_total",
		"Readings rejected by IPC.", nil, nil)

	ipcConnectsDesc    = prometheus.NewDesc("stirling_greengrass_ipc_connects_total", "IPC CONNECT handshakes.", nil, nil)
	ipcReconnectsDesc  = prometheus.NewDesc("stirling_greengrass_ipc_reconnects_total", "IPC reconnections.", nil, nil)
	configAppliedDesc  = prometheus.NewDesc("stirling_greengrass_config_applied_total", "Deployment configurations applied.", nil, nil)
	configRejectedDesc = prometheus.NewDesc("stirling_greengrass_config_rejected_total", "Deployment configurations rejected by validation.", nil, nil)
	ipcErrorsDesc      = prometheus.NewDesc("stirling_greengrass_ipc_errors_total", "IPC errors by code.", []string{"code"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- rejectedDesc
}

// Collect implements prometheus.Collector from one PublisherStats.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.CounterValue, float64(s.ReadingsQueuedInNucleus))
	ch <- prometheus.MustNewConstMetric(rejectedDesc, prometheus.CounterValue, float64(s.Rejected))
}

// Describe implements prometheus.Collector.
func (c *Client) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ipcConnectsDesc, ipcReconnectsDesc, configAppliedDesc, configRejectedDesc, ipcErrorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (c *Client) Collect(ch chan<- prometheus.Metric) {
	s := c.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{ipcConnectsDesc, s.Connects}, {ipcReconnectsDesc, s.Reconnects},
		{configAppliedDesc, s.ConfigApplied}, {configRejectedDesc, s.ConfigRejected},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
	codes := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	for _, k := range codes {
		ch <- prometheus.MustNewConstMetric(ipcErrorsDesc, prometheus.CounterValue, float64(s.Errors[k]), k)
	}
}
