// Package pipeline turns sensor frames and speeds into validated, filtered,
// window-aggregated readings and hands them, in batches, to the disk spool.
//
// Every stage is a Run(ctx) error loop connected to the next by a bounded
// channel. The package knows nothing of publishers.
package pipeline
