package mlx90640

import "github.com/prometheus/client_golang/prometheus"

// StatsCollector is a prometheus.Collector of the Stats that stats returns:
// a Dev's own (Dev.Stats), or the sum over the devices a supervisor opened
// one after the other.
type StatsCollector func() Stats

var _ prometheus.Collector = StatsCollector(nil)

func camDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_camera_"+name, help, nil, nil)
}

var (
	subpagesDesc   = camDesc("subpages_total", "MLX90640 subpages read, validated and computed.")
	retriesDesc    = camDesc("retries_total", "Subpage re-reads because the chip moved on during a read.")
	corruptDesc    = camDesc("corrupt_frames_total", "Subpages rejected for 0x7FFF markers.")
	timeoutsDesc   = camDesc("timeouts_total", "Waits for new thermal data that timed out.")
	nacksDesc      = camDesc("nacks_total", "I2C transactions the camera did not acknowledge.")
	shortReadsDesc = camDesc("short_reads_total", "I2C reads that returned fewer bytes than asked.")
	busErrorsDesc  = camDesc("bus_errors_total", "Other I2C errors.")
)

// Describe implements prometheus.Collector.
func (f StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{subpagesDesc, retriesDesc, corruptDesc, timeoutsDesc, nacksDesc, shortReadsDesc, busErrorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one call of f.
func (f StatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := f()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{subpagesDesc, s.Subpages}, {retriesDesc, s.Retries}, {corruptDesc, s.CorruptFrames}, {timeoutsDesc, s.Timeouts},
		{nacksDesc, s.NACKs}, {shortReadsDesc, s.ShortReads}, {busErrorsDesc, s.BusErrors},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
}
