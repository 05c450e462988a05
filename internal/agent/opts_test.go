package agent

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/sensors/sim"
)

func TestOverridesKeepDefaults(t *testing.T) {
	c, err := configs.Parse("t.yaml", []byte("publishers:\n  - type: stdout\n"+"pipeline:\n  metrics:\n    rpm: {deadband: 5}\n  batch:\n    max_bytes: 32KiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := pipeline.DefaultOpts()
	if m := c.Pipeline.Metrics["rpm"]; m.Deadband != 5 || m.Max != def.Metrics["rpm"].Max {
		t.Errorf("rpm = %+v; want deadband 5 and the default range", m)
	}
	o := pipelineOpts(&c.Pipeline)
	if o.Batch.MaxBytes != 32<<10 || o.Batch.MaxReadings != def.Batch.MaxReadings || o.Window != time.Second {
		t.Errorf("opts %+v", o.Batch)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("converted opts invalid: %v", err)
	}
	if len(c.Publishers) != 1 || c.Publishers[0].Stdout.Layout != configs.LayoutSample {
		t.Errorf("publisher defaults not applied: %+v", c.Publishers[0])
	}
}

// TestConfigsAgreesWithComponents: configs is a leaf, so it repeats the
// components' defaults and names as plain data; they must agree.
func TestConfigsAgreesWithComponents(t *testing.T) {
	def := configs.Default()
	po := pipelineOpts(&def.Pipeline)
	want := pipeline.DefaultOpts()
	if !reflect.DeepEqual(po, want) {
		t.Errorf("configs.Default().Pipeline converts to\n%+v\nwant pipeline.DefaultOpts()\n%+v", po, want)
	}
	so, sw := spoolOpts(&def.Spool), spool.DefaultOpts()
	if so.MaxBytes != sw.MaxBytes || so.MaxAge != sw.MaxAge || so.SegmentBytes != sw.SegmentBytes || so.SyncInterval != sw.SyncInterval {
		t.Errorf("configs.Default().Spool converts to %+v; want spool.DefaultOpts() %+v", so, sw)
	}
	if got := simConfig(&def.Sensors.Sim); !reflect.DeepEqual(got, sim.DefaultConfig()) {
		t.Errorf("configs.Default().Sensors.Sim converts to %+v; want sim.DefaultConfig() %+v", got, sim.DefaultConfig())
	}
	if got := configs.MetricNames(); !slices.Equal(got, pipeline.Metrics()) {
		t.Errorf("configs.MetricNames() = %v; want pipeline.Metrics() %v", got, pipeline.Metrics())
	}
	if got := configs.SimScenarios(); !slices.Equal(got, sim.Scenarios()) {
		t.Errorf("configs.SimScenarios() = %v; want sim.Scenarios() %v", got, sim.Scenarios())
	}
	if got := configs.SimFaultKinds(); !slices.Equal(got, sim.FaultKinds()) {
		t.Errorf("configs.SimFaultKinds() = %v; want sim.FaultKinds() %v", got, sim.FaultKinds())
	}
	for _, d := range []time.Duration{time.Hour, 90 * time.Second, 100 * time.Millisecond, time.Minute, 2*time.Hour + time.Minute, 0} {
		if configs.FormatDuration(d) != pipeline.FormatDuration(d) {
			t.Errorf("FormatDuration(%v): configs %q, pipeline %q", d, configs.FormatDuration(d), pipeline.FormatDuration(d))
		}
	}
}

// TestConfigsValidationAgrees: a pipeline section configs accepts converts
// to options the pipeline accepts, and one it rejects the pipeline rejects.
func TestConfigsValidationAgrees(t *testing.T) {
	for name, mod := range map[string]func(p *configs.Pipeline){
		"defaults":           func(*configs.Pipeline) {},
		"window 50ms":        func(p *configs.Pipeline) { p.Window = 50 * time.Millisecond },
		"window 2h":          func(p *configs.Pipeline) { p.Window = 2 * time.Hour },
		"window 5s":          func(p *configs.Pipeline) { p.Window = 5 * time.Second },
		"grace 1s":           func(p *configs.Pipeline) { p.WindowGrace = time.Second },
		"hampel 4":           func(p *configs.Pipeline) { p.Hampel.Window = 4 },
		"hampel 0":           func(p *configs.Pipeline) { p.Hampel.Window = 0 },
		"threshold 0.1":      func(p *configs.Pipeline) { p.Hampel.Threshold = 0.1 },
		"ema 2":              func(p *configs.Pipeline) { p.EMAAlpha = 2 },
		"heartbeat 100ms":    func(p *configs.Pipeline) { p.Heartbeat = 100 * time.Millisecond },
		"min_valid 2":        func(p *configs.Pipeline) { p.ROI.MinValid = 2 },
		"max_pixel_age 1ms":  func(p *configs.Pipeline) { p.ROI.MaxPixelAge = time.Millisecond },
		"running_rpm 0":      func(p *configs.Pipeline) { p.Engine.RunningRPM = 0 },
		"flame_off above on": func(p *configs.Pipeline) { p.Engine.FlameOffC = 150 },
		"max_readings 0":     func(p *configs.Pipeline) { p.Batch.MaxReadings = 0 },
		"max_bytes 512":      func(p *configs.Pipeline) { p.Batch.MaxBytes = 512 },
		"max_bytes 200KiB":   func(p *configs.Pipeline) { p.Batch.MaxBytes = 200 * configs.KiB },
		"max_latency 1ms":    func(p *configs.Pipeline) { p.Batch.MaxLatency = time.Millisecond },
		"rpm min above max":  func(p *configs.Pipeline) { p.Metrics["rpm"] = configs.Metric{Min: 10, Max: 1} },
		"negative deadband":  func(p *configs.Pipeline) { p.Metrics["rpm"] = configs.Metric{Max: 1, Deadband: -1} },
		"unknown metric":     func(p *configs.Pipeline) { p.Metrics["torque"] = configs.Metric{Max: 1} },
	} {
		c, err := configs.Parse("t.yaml", []byte("publishers:\n  - type: stdout\n"))
		if err != nil {
			t.Fatal(err)
		}
		mod(&c.Pipeline)
		cerr := c.Validate()
		o := pipelineOpts(&c.Pipeline)
		perr := o.Validate()
		if (cerr == nil) != (perr == nil) {
			t.Errorf("%s: configs says %v, pipeline says %v", name, cerr, perr)
		}
	}
}

func TestSpoolOpts(t *testing.T) {
	c := configs.Default()
	o := spoolOpts(&c.Spool)
	if o.MaxBytes != int64(c.Spool.MaxBytes) || o.SegmentBytes != 4<<20 || o.SyncInterval != time.Second || o.MaxAge != 7*24*time.Hour {
		t.Errorf("opts %+v", o)
	}
	c.Spool.SyncInterval = 0
	if o := spoolOpts(&c.Spool); o.SyncInterval >= 0 {
		t.Errorf("sync_interval 0 gave %v, want the spool's every-append setting (negative)", o.SyncInterval)
	}
}
