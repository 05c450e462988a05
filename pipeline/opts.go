package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

// Opts configures a Pipeline. Start from DefaultOpts; configs.Pipeline.Opts
// converts the YAML section. Field names in errors are the YAML keys.
type Opts struct {
	// Window is the aggregation window, aligned to multiples of Window in
	// the sensor timestamps (a 1s window covers [12:00:03, 12:00:04)).
	Window time.Duration
	// WindowGrace keeps a window open this long after its end for readings
	// that arrive late (the camera and the tachometer are separate
	// goroutines). Must be shorter than Window.
	WindowGrace time.Duration
	// Metrics overrides validation ranges and deadbands per metric name.
	// Metrics not listed keep the built-in ranges and no deadband.
	Metrics map[string]MetricOpts
	Hampel  HampelOpts
	// EMAAlpha, when > 0, smooths the filtered metrics after spike
	// rejection: y += alpha*(x-y). 1 is no smoothing.
	EMAAlpha float64
	// Heartbeat is the longest a metric held back by its deadband stays
	// silent, and how often the engine state is repeated.
	Heartbeat time.Duration
	ROI       ROIOpts
	Engine    EngineOpts
	Batch     BatchOpts
	// QueueLen is the capacity of the frame and speed input channels.
	QueueLen int
	// MaxPending is how many finished batches may wait for a slow
	// consumer before the oldest is dropped (and counted).
	MaxPending int
	// FlushTimeout bounds the final hand-over of the last batch after the
	// context is cancelled.
	FlushTimeout time.Duration

	// Clock drives idle-window closing and batch latency; nil is the wall clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// MetricOpts is one metric's validation range and deadband.
type MetricOpts struct {
	Min, Max float64
	Deadband float64
}

// HampelOpts configures spike rejection with a causal Hampel identifier:
// a sample further than Threshold robust standard deviations
// (1.4826 * median absolute deviation) from the median of the previous
// Window samples is a spike.
type HampelOpts struct {
	Window       int // 0 turns it off; else odd, 3..31
	Threshold    float64
	MinDeviation float64 // deviations up to this are never spikes
}

// ROIOpts configures the region statistics.
type ROIOpts struct {
	// MinValid is the fraction of a region's pixels that must be valid,
	// not broken and fresh; below it the statistics are BAD.
	MinValid float64
	// MaxPixelAge is how much older than the frame a pixel may be.
	MaxPixelAge time.Duration
}

// EngineOpts configures the engine-state machine.
type EngineOpts struct {
	RunningRPM float64 // at or above: running
	FlameOnC   float64 // flame region p90 above this lights flame_present
	FlameOffC  float64 // ... and below this clears it
	WarmDeltaK float64 // delta_t at or above this means the engine is still warm
}

// BatchOpts bounds a batch. Every closed window is a batch of its own (one
// spool record), handed on at once; a window with more readings than fit
// is split into several batches.
type BatchOpts struct {
	// MaxReadings bounds the readings of one batch.
	MaxReadings int
	// MaxBytes bounds the estimated JSON size of the batch (the largest
	// form a publisher sends), so one MQTT message stays well under IoT
	// Core's 128 KB limit.
	MaxBytes int
	// MaxLatency is the longest a reading that is not part of a closing
	// window (a late sample) waits in an open batch for the next window to
	// close (clock time). Closed windows and engine state changes never wait.
	MaxLatency time.Duration
}

// DefaultOpts returns the default options: the one place the pipeline's
// defaults live.
func DefaultOpts() Opts {
	o := Opts{
		Window:      time.Second,
		WindowGrace: 250 * time.Millisecond,
		Metrics:     make(map[string]MetricOpts, numMetrics),
		Hampel:      HampelOpts{Window: 7, Threshold: 3, MinDeviation: 1},
		Heartbeat:   time.Minute,
		ROI:         ROIOpts{MinValid: 0.5, MaxPixelAge: 2 * time.Second},
		Engine:      EngineOpts{RunningRPM: 30, FlameOnC: 100, FlameOffC: 80, WarmDeltaK: 10},
		Batch:       BatchOpts{MaxReadings: 500, MaxBytes: 64 << 10, MaxLatency: 2 * time.Second},
		QueueLen:    1024, MaxPending: 256,
		FlushTimeout: time.Second,
	}
	for i := range metricDefs {
		d := &metricDefs[i]
		o.Metrics[d.name] = MetricOpts{Min: d.min, Max: d.max}
	}
	return o
}

// ErrOpts is wrapped by every option error.
var ErrOpts = errors.New("pipeline: invalid options")

// OptError is one invalid option; Key is the YAML key below "pipeline".
type OptError struct {
	Key string
	Msg string
}

func (e *OptError) Error() string { return e.Key + ": " + e.Msg }

// Is makes errors.Is(err, ErrOpts) true.
func (e *OptError) Is(target error) bool { return target == ErrOpts }

// Validate checks every option and returns all problems joined; each is an
// *OptError.
func (o *Opts) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &OptError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	durIn := func(key string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			bad(key, "%q out of range; want a duration from %s to %s", FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
		}
	}
	floatIn := func(key string, v, lo, hi float64) {
		if !(v >= lo && v <= hi) {
			bad(key, "%v out of range; want a number from %v to %v", v, lo, hi)
		}
	}
	intIn := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(key, "%d out of range; want an integer from %d to %d", v, lo, hi)
		}
	}
	durIn("window", o.Window, 100*time.Millisecond, time.Hour)
	if o.WindowGrace < 0 || (o.WindowGrace >= o.Window && o.Window > 0) {
		bad("window_grace", "%q out of range; want a duration from 0s to less than window (%s)", FormatDuration(o.WindowGrace), FormatDuration(o.Window))
	}
	names := make([]string, 0, len(o.Metrics))
	for k := range o.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m := o.Metrics[k]
		key := "metrics." + k
		if _, ok := lookupMetric(k); !ok {
			bad(key, "unknown metric; want one of %s", joinNames(Metrics()))
			continue
		}
		if math.IsNaN(m.Min) || math.IsNaN(m.Max) || m.Min > m.Max {
			bad(key, "min %v above max %v; want min <= max", m.Min, m.Max)
		}
		if !(m.Deadband >= 0) || math.IsInf(m.Deadband, 0) {
			bad(key+".deadband", "%v out of range; want a number >= 0", m.Deadband)
		}
	}
	if o.Hampel.Window != 0 && (o.Hampel.Window < 3 || o.Hampel.Window > maxHampel || o.Hampel.Window%2 == 0) {
		bad("hampel.window", "%d not allowed; want 0 (off) or an odd number from 3 to %d", o.Hampel.Window, maxHampel)
	}
	floatIn("hampel.threshold", o.Hampel.Threshold, 0.5, 100)
	floatIn("hampel.min_deviation", o.Hampel.MinDeviation, 0, 1e6)
	floatIn("ema_alpha", o.EMAAlpha, 0, 1)
	durIn("heartbeat", o.Heartbeat, o.Window, 24*time.Hour)
	floatIn("roi.min_valid", o.ROI.MinValid, 0, 1)
	durIn("roi.max_pixel_age", o.ROI.MaxPixelAge, 10*time.Millisecond, time.Hour)
	floatIn("engine.running_rpm", o.Engine.RunningRPM, 1, 5000)
	floatIn("engine.flame_on_c", o.Engine.FlameOnC, -40, 1200)
	floatIn("engine.flame_off_c", o.Engine.FlameOffC, -40, o.Engine.FlameOnC)
	floatIn("engine.warm_delta_k", o.Engine.WarmDeltaK, 0, 500)
	intIn("batch.max_readings", o.Batch.MaxReadings, 1, 10000)
	intIn("batch.max_bytes", o.Batch.MaxBytes, 1024, MaxBatchBytes)
	durIn("batch.max_latency", o.Batch.MaxLatency, 10*time.Millisecond, 10*time.Minute)
	intIn("queue_len", o.QueueLen, 1, 1<<16)
	intIn("max_pending", o.MaxPending, 1, 1<<16)
	durIn("flush_timeout", o.FlushTimeout, 0, time.Minute)
	return errors.Join(errs...)
}

// MaxBatchBytes is the largest allowed BatchOpts.MaxBytes: 120 KiB, under
// IoT Core's 128 KB message limit with room for the topic and headers.
const MaxBatchBytes = 120 << 10

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// FormatDuration formats d like time.Duration.String but without zero
// trailing units: 1h, 1m30s, 100ms.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if len(s) > 3 && s[len(s)-3:] == "m0s" {
		s = s[:len(s)-2]
	}
	if len(s) > 2 && s[len(s)-2:] == "0m" && (len(s) < 3 || s[len(s)-3] == 'h') {
		s = s[:len(s)-2]
	}
	return s
}
