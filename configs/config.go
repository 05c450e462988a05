package configs

import (
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// Config is the whole agent configuration: one YAML file, plus the ROI file
// it names. Every field has a default (see Default); a file only needs the
// keys it changes.
type Config struct {
	Device     Device      `yaml:"device"`
	Sensors    Sensors     `yaml:"sensors"`
	ROIsFile   string      `yaml:"rois_file"`
	Pipeline   Pipeline    `yaml:"pipeline"`
	Spool      Spool       `yaml:"spool"`
	Publishers []Publisher `yaml:"publishers"`
	HTTP       HTTP        `yaml:"http"`

	// ROIs are the regions read from ROIsFile (or the defaults when that
	// file does not exist yet; see ROIsDefaulted). Not part of the YAML.
	ROIs sensors.ROIs `yaml:"-"`
	// ROIsPath is ROIsFile resolved against the config file's directory:
	// the file `stirling calibrate` rewrites and the agent watches.
	ROIsPath string `yaml:"-"`
	// ROIsDefaulted is true when ROIsPath did not exist and ROIs holds the
	// built-in defaults (the simulator's layout). The agent should warn.
	ROIsDefaulted bool `yaml:"-"`
	// Source names where the config came from (a path, "embedded:sim.yaml",
	// or "greengrass:configuration"); used in error messages.
	Source string `yaml:"-"`

	// lines maps key paths to their line in Source (see Errorf).
	lines map[string]int
}

// Device identifies this machine.
type Device struct {
	// ThingName is the AWS IoT thing name. Empty means "take it from
	// AWS_IOT_THING_NAME" (Greengrass sets it for every component).
	ThingName string `yaml:"thing_name"`
}

// Bus values.
const (
	BusHardware = "hardware"
	BusSim      = "sim"
)

// Sensors selects the sensor bus and configures the two sensors.
type Sensors struct {
	// Bus is "hardware" (I2C + GPIO on a Raspberry Pi) or "sim" (the
	// simulated engine, camera and tachometer line).
	Bus        string     `yaml:"bus"`
	Thermal    Thermal    `yaml:"thermal"`
	Tachometer Tachometer `yaml:"tachometer"`
	Sim        Sim        `yaml:"sim"`
}

// Thermal configures the MLX90640 camera.
type Thermal struct {
	// I2CBus is the periph bus name: "1" or "/dev/i2c-1".
	I2CBus string `yaml:"i2c_bus"`
	// Address is the 7-bit I2C address (0x33 from the factory).
	Address uint16 `yaml:"address"`
	// RefreshHz is the subpage rate: 0.5, 1, 2, 4, 8, 16, 32 or 64.
	RefreshHz float64 `yaml:"refresh_hz"`
	// Resolution is the ADC resolution in bits, 16 to 19.
	Resolution int `yaml:"resolution"`
	// Pattern is the subpage pattern: "chess" (factory default) or "interleaved".
	Pattern string `yaml:"pattern"`
	// Emissivity of the observed surfaces, 0.1 to 1.
	Emissivity float64 `yaml:"emissivity"`
	// ReflectedC is the reflected (background) temperature in deg C. Nil
	// means the Melexis recommendation: the sensor's ambient minus 8 deg C.
	ReflectedC *float64 `yaml:"reflected_c"`
}

// Tachometer configures the flywheel mark sensor on a GPIO line.
type Tachometer struct {
	// Chip is the GPIO character device: "gpiochip0" on a Pi 4 and on a Pi 5
	// with kernel 6.6.45 or later ("gpiochip4" on older Pi 5 kernels).
	Chip string `yaml:"gpio_chip"`
	// Line is the line offset on Chip (BCM number on the Pi): 4.
	Line int `yaml:"gpio_line"`
	// Edge is the edge at the leading side of the mark: "rising" or "falling".
	// Which one the black mark produces depends on the TCRT5000 module
	// (most D0 outputs go high over black).
	Edge string `yaml:"edge"`
	// Bias is the line bias: "as_is", "disable", "pull_up" or "pull_down".
	Bias string `yaml:"bias"`
	// MarksPerRev is the number of marks on the wheel.
	MarksPerRev int `yaml:"marks_per_rev"`
	// MinRPM and MaxRPM bound plausible speeds: a period shorter than one
	// MaxRPM revolution is a glitch and is ignored.
	MinRPM float64 `yaml:"min_rpm"`
	MaxRPM float64 `yaml:"max_rpm"`
	// StallTimeout is how long without a mark before the speed is reported
	// as 0 (stalled).
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Sim configures the simulated sensor bus (used when Bus is "sim"): the
// engine scenario, seed, speed-up, edge jitter and the faults to inject.
// The agent converts it to the simulator's own Config.
type Sim struct {
	// Scenario names the engine's timeline; see SimScenarios.
	Scenario string `yaml:"scenario"`
	// Seed makes the run reproducible; 0 picks one from the clock.
	Seed int64 `yaml:"seed"`
	// Speedup runs engine time this many times faster than the wall clock
	// (1 to 10000).
	Speedup float64 `yaml:"speedup"`
	// SteadyRPM is the speed of the "steady", "flame_out" and "stall"
	// scenarios (default 600, 50 to 3000).
	SteadyRPM float64 `yaml:"steady_rpm"`
	// AmbientC is the room temperature, deg C (default 22, -20 to 45).
	AmbientC float64 `yaml:"ambient_c"`
	// Jitter is the standard deviation of the edge timestamps (default
	// 2us, the Pi's interrupt latency spread; 0 to 1ms).
	Jitter time.Duration `yaml:"jitter"`
	// MarkWidthDeg is the black mark's width on the flywheel (default 12
	// degrees, 1 to 180).
	MarkWidthDeg float64 `yaml:"mark_width_deg"`
	// Faults are injected during windows of engine time.
	Faults []SimFault `yaml:"faults"`
}

// SimFault is one injected fault of the simulator.
type SimFault struct {
	// Kind is one of SimFaultKinds.
	Kind string `yaml:"kind"`
	// At is the engine time (since the start) when it begins.
	At time.Duration `yaml:"at"`
	// For is how long it lasts; 0 means to the end.
	For time.Duration `yaml:"for"`
	// Rate is the probability per mark/edge/revolution for the GPIO kinds
	// that have one (0 means the kind's default).
	Rate float64 `yaml:"rate"`
}

// Pipeline configures validation, filters, windows and batching. See
// pipeline.Opts for the meaning of each field; the agent converts.
type Pipeline struct {
	// Window is the aggregation window, aligned to wall-clock multiples of
	// the sensor timestamps (100ms to 1h).
	Window time.Duration `yaml:"window"`
	// WindowGrace is how long after a window's end it stays open for late
	// readings (0 to less than window).
	WindowGrace time.Duration `yaml:"window_grace"`
	// Metrics holds per-metric validation ranges and deadbands, keyed by
	// metric name; listed keys override the defaults one field at a time.
	Metrics map[string]Metric `yaml:"metrics"`
	Hampel  Hampel            `yaml:"hampel"`
	// EMAAlpha smooths filtered metrics: 0 is off, up to 1 (no smoothing).
	EMAAlpha float64 `yaml:"ema_alpha"`
	// Heartbeat re-sends a metric held back by its deadband at least this
	// often, and the engine state too.
	Heartbeat time.Duration `yaml:"heartbeat"`
	ROI       ROIStats      `yaml:"roi"`
	Engine    Engine        `yaml:"engine"`
	Batch     Batch         `yaml:"batch"`
}

// Metric is one metric's validation range and deadband.
type Metric struct {
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
	// Deadband: a window aggregate whose mean moved by no more than this
	// from the last one sent (with the same quality) is held back until
	// the heartbeat. 0 sends every window.
	Deadband float64 `yaml:"deadband"`
}

// Hampel configures spike rejection.
type Hampel struct {
	// Window is the number of recent samples (odd, 3 to 31); 0 turns the
	// filter off.
	Window int `yaml:"window"`
	// Threshold is the spike threshold in robust standard deviations.
	Threshold float64 `yaml:"threshold"`
	// MinDeviation is the smallest deviation (in the metric's unit) ever
	// called a spike, so a flat signal does not turn noise into spikes.
	MinDeviation float64 `yaml:"min_deviation"`
}

// ROIStats configures the per-frame region statistics.
type ROIStats struct {
	// MinValid is the fraction of a region's pixels that must be valid,
	// not broken and fresh for a GOOD or UNCERTAIN statistic (0 to 1).
	MinValid float64 `yaml:"min_valid"`
	// MaxPixelAge is how old a pixel may be, relative to the frame time.
	MaxPixelAge time.Duration `yaml:"max_pixel_age"`
}

// Engine configures the engine-state machine.
type Engine struct {
	RunningRPM float64 `yaml:"running_rpm"`
	FlameOnC   float64 `yaml:"flame_on_c"`
	FlameOffC  float64 `yaml:"flame_off_c"`
	WarmDeltaK float64 `yaml:"warm_delta_k"`
}

// Batch configures batching.
type Batch struct {
	MaxReadings int           `yaml:"max_readings"`
	MaxBytes    Size          `yaml:"max_bytes"`
	MaxLatency  time.Duration `yaml:"max_latency"`
}

// Spool configures the on-disk spool between the pipeline and publishers.
type Spool struct {
	// Dir holds the segment files; relative paths are relative to the
	// working directory of the agent.
	Dir string `yaml:"dir"`
	// MaxBytes caps the spool on disk; the oldest segments go first.
	MaxBytes Size `yaml:"max_bytes"`
	// MaxAge drops data older than this (SiteWise rejects points older
	// than 7 days anyway).
	MaxAge time.Duration `yaml:"max_age"`
	// SegmentBytes is the size at which a segment is closed.
	SegmentBytes Size `yaml:"segment_bytes"`
	// SyncInterval is the group-commit fsync interval; 0 syncs every batch.
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// HTTP configures the status page and health endpoint.
type HTTP struct {
	// Listen is the address of the status page; empty turns it off.
	Listen string `yaml:"listen"`
	// HealthzMaxSilence: /healthz fails when a publisher with readings
	// waiting for it delivered nothing for this long.
	HealthzMaxSilence time.Duration `yaml:"healthz_max_silence"`
	// AllowHosts are host names (or addresses), with an optional :port,
	// that browsers may use to reach the page besides the listen address
	// and the loopback names; every other Host is refused (DNS rebinding).
	AllowHosts []string `yaml:"allow_hosts"`
	// LivezWindow: /livez (and /healthz) fail when the sensors produced
	// nothing or no batch was appended to the spool for this long. 0
	// derives it from the pipeline: see Config.LivezWindow.
	LivezWindow time.Duration `yaml:"livez_window"`
}

// LivezWindow is http.livez_window, or when that is 0, three times the
// longest a reading may take from the sensor to the spool (pipeline.window
// plus pipeline.batch.max_latency), plus pipeline.heartbeat when a metric
// has a deadband (a steady signal is then spooled only once a heartbeat),
// and never under 10 seconds. With the defaults (1s window, 2s latency) it
// is 10 s; with the shipped agent.yaml (1s, 5s) 18 s. The pipeline's
// durations are sensor time: under an accelerated simulator the real
// interval is shorter, so the bound only gets more generous.
func (c *Config) LivezWindow() time.Duration {
	if c.HTTP.LivezWindow > 0 {
		return c.HTTP.LivezWindow
	}
	w := 3 * (c.Pipeline.Window + c.Pipeline.Batch.MaxLatency)
	for _, m := range c.Pipeline.Metrics {
		if m.Deadband > 0 {
			w += c.Pipeline.Heartbeat
			break
		}
	}
	return max(w, 10*time.Second)
}
