package tachometer

import "github.com/prometheus/client_golang/prometheus"

// StatsCollector is a prometheus.Collector of the Stats of the Tach that
// tach returns: the one running now, or nil for none (then it sends
// nothing).
type StatsCollector func() *Tach

var _ prometheus.Collector = StatsCollector(nil)

func tachDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_tach_"+name, help, nil, nil)
}

var (
	edgesDesc     = tachDesc("edges_total", "Edges read from the tachometer line.")
	marksDesc     = tachDesc("marks_total", "Flywheel marks accepted.")
	glitchesDesc  = tachDesc("glitches_total", "Edges rejected as glitches or chatter.")
	outliersDesc  = tachDesc("outliers_total", "Periods rejected as outliers (missed or extra marks).")
	overflowsDesc = tachDesc("overflows_total", "Kernel event FIFO overflows (sequence gaps).")
	lostDesc      = tachDesc("lost_edges_total", "Edges lost in FIFO overflows.")
	stallsDesc    = tachDesc("stalls_total", "Flywheel stop events.")
	startsDesc    = tachDesc("starts_total", "Flywheel start events.")
	droppedDesc   = tachDesc("dropped_total", "Speeds or events dropped because the pipeline was full.")
	rpmDesc       = tachDesc("rpm", "Last flywheel speed, RPM.")
)

// Describe implements prometheus.Collector.
func (f StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{edgesDesc, marksDesc, glitchesDesc, outliersDesc, overflowsDesc, lostDesc,
		stallsDesc, startsDesc, droppedDesc, rpmDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (f StatsCollector) Collect(ch chan<- prometheus.Metric) {
	t := f()
	if t == nil {
		return
	}
	s := t.Stats()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{edgesDesc, s.Edges}, {marksDesc, s.Marks}, {glitchesDesc, s.Glitches}, {outliersDesc, s.Outliers},
		{overflowsDesc, s.Overflows}, {lostDesc, s.Lost}, {stallsDesc, s.Stalls}, {startsDesc, s.Starts}, {droppedDesc, s.Dropped},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	ch <- prometheus.MustNewConstMetric(rpmDesc, prometheus.GaugeValue, s.RPM)
}
