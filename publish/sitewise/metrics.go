package sitewise

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// The publisher is a prometheus.Collector of its Stats. The agent registers
// every publisher that is one, labelled with its name (publisher="...").
var _ prometheus.Collector = (*Publisher)(nil)

var (
	requestsDesc    = prometheus.NewDesc("stirling_sitewise_requests_total", "BatchPutAssetPropertyValue requests.", nil, nil)
	outOfWindowDesc = prometheus.NewDesc("stirling_sitewise_out_of_window_readings_total", "Readings rejected for timestamps outside SiteWise's window.", nil, nil)
	throttledDesc   = prometheus.NewDesc("stirling_sitewise_throttled_waits_total", "Requests delayed by the per-property rate limit.", nil, nil)
	rejectedDesc    = prometheus.NewDesc("stirling_sitewise_rejected_readings_total", "Rejected readings by error code.", []string{"code"}, nil)
	retriedDesc     = prometheus.NewDesc("stirling_sitewise_retried_readings_total", "Retried readings by error code.", []string{"code"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, outOfWindowDesc, throttledDesc, rejectedDesc, retriedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(s.Requests))
	ch <- prometheus.MustNewConstMetric(outOfWindowDesc, prometheus.CounterValue, float64(s.OutOfWindow))
	ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.CounterValue, float64(s.ThrottledWaits))
	for _, c := range []struct {
		d *prometheus.Desc
		m map[string]uint64
	}{{rejectedDesc, s.RejectedByCode}, {retriedDesc, s.RetriedByCode}} {
		codes := make([]string, 0, len(c.m))
		for k := range c.m {
			codes = append(codes, k)
		}
		sort.Strings(codes)
		for _, k := range codes {
			ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.m[k]), k)
		}
	}
}
