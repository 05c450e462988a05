// Package sim is the simulated sensor bus: a model of a tabletop Stirling
// engine, the tachometer's GPIO line driven by its flywheel, and the
// MLX90640 camera (package camera) looking at its cylinders and flame.
//
// The engine is a lumped thermal model: the flame heats the hot cylinder,
// the running engine carries heat to the cold cylinder, both lose heat to
// the room, each with its own lag. The hot-cold difference drives the
// flywheel against friction: it starts once the difference exceeds a
// threshold and stalls when it no longer covers the friction. A scenario
// (a timeline of flame settings) drives the flame; gusts make it flicker.
//
// The model advances in fixed 1 ms steps of engine time, lazily, whenever
// someone asks for a time it has not reached, so it is deterministic for a
// seed however the callers are scheduled. With a clock.Scaled it runs an
// hour of engine in seconds.
//
// Nothing polls. The GPIO line sleeps until its next edge is due, one
// timer per wake, and hands over every edge due in a burst of 150 ms of
// engine time at once, each with its own timestamp; the tachometer reads it
// as a tachometer.DeadlineSource, in one goroutine, with its stall decision
// as the read's deadline. Sim.Run wakes once a second and at camera fault
// window boundaries; flame and flywheel changes are logged from the model
// step that makes them.
//
// Faults are switched by the config (windows of engine time) or at run time
// with Sim.SetFault: on the GPIO side missed marks, chatter bursts, noise
// spikes, event-FIFO overflow and an unplugged sensor; flame-out on the
// engine; and the camera's I2C faults (package camera).
package sim
