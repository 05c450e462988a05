package agent

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stirling-iot/stirling/internal/version"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// registry is what /metrics serves: every component's collector, the
// agent's own supervision counters, the Go and process collectors and
// stirling_build_info. A publisher with metrics of its own is a
// prometheus.Collector; it and its runner are labelled publisher="name".
func (a *agent) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stirling_build_info", Help: "The agent's build; the value is always 1.",
			ConstLabels: prometheus.Labels{"version": version.Semver(), "commit": version.Revision(), "goversion": runtime.Version()}},
			func() float64 { return 1 }),
		a.pipe, a.sp, a.writer,
		mlx90640.StatsCollector(a.cameraStats),
		tachometer.StatsCollector(a.tach.Load),
	)
	for _, c := range []struct {
		name, help string
		v          func() uint64
	}{
		{"camera_frame_errors_total", "Thermal frames that failed (any cause).", a.camFrameErrors.Load},
		{"camera_opens_total", "Times the camera was opened and configured.", a.camOpens.Load},
		{"camera_open_errors_total", "Failed attempts to open the camera.", a.camOpenErrors.Load},
		{"camera_resets_total", "Camera re-initialisations after repeated failures.", a.camResets.Load},
		{"tach_restarts_total", "Tachometer restarts after its edge source failed.", a.tachRestarts.Load},
		{"roi_reloads_total", "ROI file reloads applied.", a.roiReloads.Load},
		{"roi_reload_errors_total", "ROI file reloads rejected.", a.roiReloadErrors.Load},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stirling_" + c.name, Help: c.help},
			func() float64 { return float64(c.v()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stirling_tach_precise",
		Help: "1 when edges carry kernel timestamps, 0 for the user-space fallback (lower precision)."},
		func() float64 { s := a.sens.Load(); return b2f(s != nil && s.precise) }))
	if s := a.sens.Load(); s != nil && s.sim != nil {
		reg.MustRegister(s.sim)
	}
	if a.gg != nil {
		reg.MustRegister(a.gg)
	}
	for i, r := range a.runners {
		pr := prometheus.WrapRegistererWith(prometheus.Labels{"publisher": a.pubs[i].Name()}, reg)
		pr.MustRegister(r)
		if c, ok := a.pubs[i].(prometheus.Collector); ok {
			pr.MustRegister(c)
		}
	}
	return reg
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
