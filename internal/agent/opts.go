package agent

import (
	"fmt"
	"math"
	"strings"

	"periph.io/x/conn/v3/physic"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish/greengrass"
	"github.com/stirling-iot/stirling/publish/mqtt"
	"github.com/stirling-iot/stirling/publish/sitewise"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// This file is the one mapping from the configuration's plain structs
// (configs, a leaf package) to each component's Opts.

// pipelineOpts converts the pipeline section to pipeline options (without
// the clock and logger, which the caller sets).
func pipelineOpts(p *configs.Pipeline) pipeline.Opts {
	o := pipeline.DefaultOpts() // for the fields the YAML does not expose
	o.Window, o.WindowGrace = p.Window, p.WindowGrace
	o.Metrics = make(map[string]pipeline.MetricOpts, len(p.Metrics))
	o.Hampel = pipeline.HampelOpts{Window: p.Hampel.Window, Threshold: p.Hampel.Threshold, MinDeviation: p.Hampel.MinDeviation}
	o.EMAAlpha, o.Heartbeat = p.EMAAlpha, p.Heartbeat
	o.ROI = pipeline.ROIOpts{MinValid: p.ROI.MinValid, MaxPixelAge: p.ROI.MaxPixelAge}
	o.Engine = pipeline.EngineOpts{
		RunningRPM: p.Engine.RunningRPM,
		FlameOnC:   p.Engine.FlameOnC,
		FlameOffC:  p.Engine.FlameOffC,
		WarmDeltaK: p.Engine.WarmDeltaK,
	}
	o.Batch = pipeline.BatchOpts{MaxReadings: p.Batch.MaxReadings, MaxBytes: int(p.Batch.MaxBytes), MaxLatency: p.Batch.MaxLatency}
	for k, m := range p.Metrics {
		o.Metrics[k] = pipeline.MetricOpts{Min: m.Min, Max: m.Max, Deadband: m.Deadband}
	}
	return o
}

// spoolOpts converts the spool section to spool options (without the
// clock, which the caller sets); the directory is s.Dir.
func spoolOpts(s *configs.Spool) spool.Opts {
	o := spool.DefaultOpts()
	o.MaxBytes = int64(s.MaxBytes)
	o.MaxAge = s.MaxAge
	o.SegmentBytes = int64(s.SegmentBytes)
	o.SyncInterval = s.SyncInterval
	if s.SyncInterval == 0 {
		o.SyncInterval = -1 // the spool's "fsync on every append"
	}
	return o
}

// simConfig converts the simulator section.
func simConfig(c *configs.Sim) sim.Config {
	out := sim.Config{
		Scenario:     c.Scenario,
		Seed:         c.Seed,
		Speedup:      c.Speedup,
		SteadyRPM:    c.SteadyRPM,
		AmbientC:     c.AmbientC,
		Jitter:       c.Jitter,
		MarkWidthDeg: c.MarkWidthDeg,
	}
	for _, f := range c.Faults {
		out.Faults = append(out.Faults, sim.Fault{Kind: f.Kind, At: f.At, For: f.For, Rate: f.Rate})
	}
	return out
}

// cameraOpts converts the thermal section to driver options.
func (a *agent) cameraOpts() *mlx90640.Opts {
	t := a.cfg.Sensors.Thermal
	o := mlx90640.DefaultOpts()
	o.Addr = t.Address
	o.RefreshRate = physic.Frequency(t.RefreshHz * float64(physic.Hertz))
	o.Resolution = t.Resolution
	if strings.EqualFold(t.Pattern, "interleaved") {
		o.Pattern = mlx90640.Interleaved
	} else {
		o.Pattern = mlx90640.Chess
	}
	o.Emissivity = t.Emissivity
	o.ReflectedTemp = math.NaN()
	if t.ReflectedC != nil {
		o.ReflectedTemp = *t.ReflectedC
	}
	o.Clock = a.clk
	o.Logger = a.log
	return &o
}

// tachOpts converts the tachometer section to tachometer options.
func (a *agent) tachOpts() (*tachometer.Opts, error) {
	t := a.cfg.Sensors.Tachometer
	o := tachometer.DefaultOpts()
	edge, err := tachometer.ParseEdge(t.Edge)
	if err != nil {
		return nil, fmt.Errorf("sensors.tachometer.edge: %w", err)
	}
	o.MarkEdge = edge
	o.MinRPM, o.MaxRPM = t.MinRPM, t.MaxRPM
	o.MarksPerRev = t.MarksPerRev
	o.StallTimeout = t.StallTimeout
	o.Clock = a.clk
	o.Logger = a.log
	return &o, nil
}

// mqttOpts, greengrassOpts and sitewiseOpts turn a publisher's
// configuration into its driver's options: the one mapping both the start
// gate and openPublishers use.
func mqttOpts(cfg *configs.Config, pc *configs.Publisher) mqtt.Opts {
	m := pc.MQTT
	return mqtt.Opts{
		Name:            publisherName(*pc, 0),
		Endpoint:        m.Endpoint,
		Thing:           cfg.Device.ThingName,
		ClientID:        m.ClientID,
		Topic:           m.Topic,
		BasicIngestRule: m.BasicIngestRule,
		Layout:          mqtt.Layout(m.Layout),
		MaxLatency:      m.MaxLatency,
		CertFile:        m.CertFile,
		KeyFile:         m.KeyFile,
		CAFile:          m.CAFile,
		KeepAlive:       m.Keepalive,
	}
}

func greengrassOpts(cfg *configs.Config, pc *configs.Publisher) *greengrass.PublisherOpts {
	g := pc.Greengrass
	return &greengrass.PublisherOpts{
		Name: publisherName(*pc, 0), Thing: cfg.Device.ThingName, Topic: g.Topic, Destination: g.Destination, Layout: g.Layout,
	}
}

func sitewiseOpts(cfg *configs.Config, pc *configs.Publisher) *sitewise.Opts {
	s := pc.SiteWise
	return &sitewise.Opts{
		Name:          publisherName(*pc, 0),
		Thing:         cfg.Device.ThingName,
		AliasTemplate: s.AliasTemplate,
		Region:        s.Region,
		Endpoint:      s.Endpoint,
		MaxLatency:    s.MaxLatency,
		BoolMetrics:   []string{pipeline.MetricFlamePresent},
	}
}
