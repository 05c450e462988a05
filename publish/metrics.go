package publish

import "github.com/prometheus/client_golang/prometheus"

// The runner is a prometheus.Collector of its attempts; register it
// labelled with its publisher's name (prometheus.WrapRegistererWith with
// publisher="..."). Its state,
// deliveries and lag are on the status server's stirling_publisher_*
// families (they are what the status page shows). A publisher with metrics
// of its own implements prometheus.Collector itself.
var _ prometheus.Collector = (*Runner)(nil)

var (
	attemptsDesc = prometheus.NewDesc("stirling_publisher_attempts_total", "Send attempts.", nil, nil)
	failuresDesc = prometheus.NewDesc("stirling_publisher_failures_total", "Send attempts that left readings to retry.", nil, nil)
)

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	ch <- attemptsDesc
	ch <- failuresDesc
}

// Collect implements prometheus.Collector.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	attempts, failures := r.st.Attempts, r.st.Failures
	r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.CounterValue, float64(attempts))
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(failures))
}
