package sim

import "github.com/prometheus/client_golang/prometheus"

// The simulator is a prometheus.Collector of its ground truth and its fault
// counters.
var _ prometheus.Collector = (*Sim)(nil)

func simDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_sim_"+name, help, nil, nil)
}

var (
	engineSecondsDesc = simDesc("engine_seconds", "Simulated engine time since start, seconds.")
	rpmDesc           = simDesc("rpm", "Simulated flywheel speed (ground truth), RPM.")
	hotDesc           = simDesc("hot_celsius", "Simulated hot cylinder temperature (ground truth), degrees Celsius.")
	coldDesc          = simDesc("cold_celsius", "Simulated cold cylinder temperature (ground truth), degrees Celsius.")
	flameOnDesc       = simDesc("flame_on", "1 while the simulated flame burns.")
	gpioEdgesDesc     = simDesc("gpio_edges_total", "Edges the simulated line delivered.")
	missedMarksDesc   = simDesc("gpio_missed_marks_total", "Marks suppressed by the missed_marks fault.")
	chatterDesc       = simDesc("gpio_chatter_edges_total", "Extra edges from chatter bursts.")
	overflowedDesc    = simDesc("gpio_overflowed_edges_total", "Edges dropped with a sequence gap.")
	camSubpagesDesc   = simDesc("camera_subpages_total", "Subpages the simulated camera measured.")
	camNACKsDesc      = simDesc("camera_nacks_total", "Transactions the simulated camera NACKed.")
	camFaultsDesc     = simDesc("camera_faults_total", "Transactions failed by an injected camera fault.")
)

// Describe implements prometheus.Collector.
func (s *Sim) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{engineSecondsDesc, rpmDesc, hotDesc, coldDesc, flameOnDesc, gpioEdgesDesc,
		missedMarksDesc, chatterDesc, overflowedDesc, camSubpagesDesc, camNACKsDesc, camFaultsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (s *Sim) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	flame := 0.0
	if st.State.FlameOn {
		flame = 1
	}
	for _, g := range []struct {
		d *prometheus.Desc
		v float64
	}{
		{engineSecondsDesc, st.EngineTime.Seconds()}, {rpmDesc, st.State.RPM}, {hotDesc, st.State.Hot},
		{coldDesc, st.State.Cold}, {flameOnDesc, flame},
	} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, g.v)
	}
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{gpioEdgesDesc, st.GPIO.Edges}, {missedMarksDesc, st.GPIO.MissedMarks}, {chatterDesc, st.GPIO.ChatterEdges},
		{overflowedDesc, st.GPIO.Overflowed}, {camSubpagesDesc, st.Camera.Subpages}, {camNACKsDesc, st.Camera.NACKs},
		{camFaultsDesc, st.Camera.Faults},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
}
