package status

import (
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// Source is what the server reads. cmd/stirling implements it over the
// running agent. All methods must be safe for concurrent use and fast: they
// are called from HTTP handlers and once a second by the sampler.
type Source interface {
	// Snapshot returns the current state as plain data. The server does not
	// keep references into it after the call returns.
	Snapshot() Snapshot
	// Frame copies the latest full thermal frame into dst and reports
	// whether there is one.
	Frame(dst *sensors.Frame) bool
	// ROIs returns the regions currently in use.
	ROIs() sensors.ROIs
}

// Snapshot is the agent's state at one instant.
type Snapshot struct {
	// Time is when the snapshot was taken by the agent's sensor clock
	// (virtual time when the simulator runs accelerated); reading ages are
	// measured against it.
	Time time.Time `json:"time"`
	// WallTime is the wall-clock time of the snapshot; the ages of
	// LastDelivered, LastSpooled and the publishers' LastSuccess and
	// LastErrorTime (all wall-clock times) are measured against it. Zero
	// means the same as Time.
	WallTime time.Time `json:"wall_time"`
	// EngineState is a short word for the engine: "stopped", "starting",
	// "running", "stalled", "unknown", ...
	EngineState string `json:"engine_state"`
	// Readings are the latest value of each metric. The one whose Metric is
	// Opts.RPMMetric ("rpm" by default) feeds the RPM chart.
	Readings []Reading `json:"readings"`
	// Publishers are the publishers' health, one entry each.
	Publishers []PublisherStatus `json:"publishers"`
	// Spool is the disk spool's state.
	Spool SpoolStatus `json:"spool"`
	// LastDelivered is when a publisher last got an acknowledgement for a
	// batch; LastSpooled is when a batch was last appended to the spool
	// successfully (a failed append never moves it). /livez fails when
	// LastSpooled is older than Opts.LiveWindow.
	LastDelivered time.Time `json:"last_delivered"`
	LastSpooled   time.Time `json:"last_spooled"`
	// LastSensor is when the sensors last produced data (a thermal frame
	// reached the pipeline); /livez fails when it is older than
	// Opts.LiveWindow.
	LastSensor time.Time `json:"last_sensor"`
	// ROIsFile is the absolute path of the ROI file the agent reads and
	// watches, empty when its regions come from the binary (an embedded
	// config). `stirling calibrate` saves there by default.
	ROIsFile string `json:"rois_file"`
}

// Reading is the latest value of one metric.
type Reading struct {
	Metric  string    `json:"metric"`  // e.g. "rpm", "hot_cylinder_temp"
	Unit    string    `json:"unit"`    // e.g. "rpm", "degC"
	Value   float64   `json:"value"`   // the value
	Quality string    `json:"quality"` // "GOOD", "UNCERTAIN" or "BAD"
	Time    time.Time `json:"time"`    // sensor time of the value
}

// PublisherStatus is the health of one publisher.
type PublisherStatus struct {
	Name          string    `json:"name"`            // e.g. "mqtt", "sitewise"
	State         string    `json:"state"`           // e.g. "connected", "backoff", "disconnected"
	LastError     string    `json:"last_error"`      // the last failure; empty when none
	LastErrorTime time.Time `json:"last_error_time"` // when it happened; an error newer than LastSuccess means "failing"
	LastSuccess   time.Time `json:"last_success"`    // last acknowledged batch; zero when none
	Delivered     uint64    `json:"delivered"`       // records acknowledged
	Retried       uint64    `json:"retried"`         // records sent again after a retryable failure
	Rejected      uint64    `json:"rejected"`        // records refused for good (not retried)
	LagRecords    int64     `json:"lag_records"`     // records in the spool this publisher has not delivered
	LagSeconds    float64   `json:"lag_seconds"`     // age of the oldest undelivered record
}

// SpoolStatus is the state of the disk spool.
type SpoolStatus struct {
	DepthRecords   int64  `json:"depth_records"`   // records on disk not yet delivered by every publisher
	DepthBytes     int64  `json:"depth_bytes"`     // bytes on disk
	LimitBytes     int64  `json:"limit_bytes"`     // configured cap; 0 when unlimited
	DroppedRecords uint64 `json:"dropped_records"` // records dropped because the spool was full or they were too old
	DroppedFull    uint64 `json:"-"`               // the part of DroppedRecords dropped because the spool was full (/metrics only)
	CorruptSkipped uint64 `json:"corrupt_skipped"` // records skipped because they failed their checksum
	// LostReadings counts the readings lost because an append failed (a
	// full disk, an I/O error), LostBatches the batches they were in, and
	// LostReadingsNoSpace the part of LostReadings lost to ENOSPC or EDQUOT.
	LostReadings        uint64 `json:"lost_readings"`
	LostReadingsNoSpace uint64 `json:"lost_readings_no_space"`
	LostBatches         uint64 `json:"lost_batches"`
	// LastError is the last failed append ("" when none) and LastErrorTime
	// when it happened. FailingSince is the first failure after the last
	// append that worked, zero while appends work. While it is set (or
	// LastErrorTime is after Snapshot.LastSpooled) /livez fails.
	LastError     string    `json:"last_error"`
	LastErrorTime time.Time `json:"last_error_time"`
	FailingSince  time.Time `json:"failing_since"`
}
