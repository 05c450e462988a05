// Package configs holds the shipped configuration files (agent.yaml for a
// Raspberry Pi under Greengrass, sim.yaml for a laptop, rois.yaml with the
// default regions), embedded in the binary, and the code that loads them.
//
// Decoding is strict: an unknown key, a value of the wrong type or a value
// out of range is an error that names the file, the line, the key and what
// is allowed, e.g.
//
//	configs/sim.yaml:14: pipeline.window: "-1s" out of range; want a duration from 100ms to 1h
//
// All errors of a file are reported at once (see Errors). Defaults live in
// Default; a file lists only what it changes.
package configs
