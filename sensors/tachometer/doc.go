// Package tachometer turns the edges of the flywheel sensor's GPIO line into
// speeds.
//
// The TCRT5000 reflective sensor sees one black mark per revolution. Every
// transition of its line is an [sensors.Edge]; a [Source] delivers them, and
// [Tach] turns the period between successive marks into [sensors.Speed]
// values and start/stop [Event]s.
//
// Sources:
//
//   - [Chardev] reads the Linux GPIO character device (uAPI v2) directly. The
//     kernel timestamps each edge in its interrupt handler (CLOCK_MONOTONIC)
//     and numbers it, so periods are precise to microseconds and a full event
//     FIFO is detected from the sequence numbers. This is the primary source.
//   - [Periph] is the fallback: periph's gpio.PinIn.WaitForEdge, stamped in
//     user space after the goroutine wakes. Its edges are marked imprecise
//     (Edge.Precise false, Stats.Precise false) and it sees only mark edges.
//   - the simulator (package sim) drives the same interface from a model of
//     the engine.
//
// Filtering happens on the timestamps, never in the kernel (the kernel's
// software debounce delays and quantises the timestamps): pulses shorter
// than Opts.GlitchMin are chatter, marks closer than 60/Opts.MaxRPM after
// the previous one are locked out, and a period far from the median of the
// recent ones is an outlier (a missed or an extra mark). No accepted mark for
// max(3 periods, Opts.StallTimeout) is a stall: speed 0, stamped with the
// moment the stall became certain, and a "stop" event.
package tachometer
