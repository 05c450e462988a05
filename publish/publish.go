// Package publish delivers spooled batches to their destinations (stdout, a
// file, AWS IoT Core over MQTT, Greengrass IPC, AWS IoT SiteWise) behind one
// contract: a per-reading result of accepted, retry or rejected.
package publish

import (
	"context"

	"github.com/stirling-iot/stirling/pipeline"
)

// Status is the outcome of sending one reading.
type Status uint8

// Statuses. The zero value is Retry: a reading is never counted as delivered
// unless a publisher said so after a real acknowledgement.
const (
	Retry Status = iota
	Accepted
	Rejected
)

func (s Status) String() string {
	switch s {
	case Retry:
		return "retry"
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Result is what a publisher says about one reading of a batch.
type Result struct {
	Status Status
	Reason string // why it was rejected or must be retried
}

// Publisher sends batches to one destination.
type Publisher interface {
	// Name identifies the publisher in logs, metrics and its spool cursor.
	Name() string
	// Send delivers b and fills res (len(res) == len(b.Readings)) with one
	// Result per reading. res arrives zeroed (all Retry). An error means the
	// whole attempt failed (for example, not connected); entries already
	// marked Accepted or Rejected in res still count.
	Send(ctx context.Context, b *pipeline.Batch, res []Result) error
	// Close releases the publisher's connections.
	Close() error
}
