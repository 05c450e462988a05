package main

import (
	"time"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/sensors"
)

// The agent is the status page's Source.
var _ status.Source = (*agent)(nil)

// Frame copies the latest thermal frame.
func (a *agent) Frame(dst *sensors.Frame) bool {
	a.frameMu.Lock()
	defer a.frameMu.Unlock()
	if !a.hasFrame {
		return false
	}
	*dst = a.frame
	return true
}

// ROIs are the regions in use.
func (a *agent) ROIs() sensors.ROIs { return a.pipe.ROIs() }

// Snapshot gathers every component's counters.
func (a *agent) Snapshot() status.Snapshot {
	ps := a.pipe.Stats()
	ss := a.sp.Stats()
	snap := status.Snapshot{
		Time:        a.clk.Now(),
		WallTime:    time.Now(),
		EngineState: ps.EngineState.String(),
		Spool: status.SpoolStatus{
			DepthBytes:     ss.DiskBytes,
			LimitBytes:     ss.MaxBytes,
			DroppedRecords: ss.DroppedFull + ss.DroppedAge,
			CorruptSkipped: ss.CorruptSkipped,
		},
	}
	if ns := a.lastSpooled.Load(); ns != 0 {
		snap.LastSpooled = time.Unix(0, ns)
	}
	for _, r := range ps.Latest {
		snap.Readings = append(snap.Readings, status.Reading{
			Metric: r.Metric, Unit: r.Unit, Value: r.Value, Quality: r.Quality.String(), Time: r.Time,
		})
	}
	var depth uint64
	for _, r := range a.runners {
		rs := r.Stats()
		snap.Publishers = append(snap.Publishers, status.PublisherStatus{
			Name:          rs.Name,
			State:         rs.StateText(),
			LastError:     rs.LastError,
			LastErrorTime: rs.LastErrorTime,
			LastSuccess:   rs.LastSuccess,
			Delivered:     rs.Delivered,
			Retried:       rs.Retried,
			Rejected:      rs.Rejected,
			LagRecords:    int64(rs.LagRecords),
			LagSeconds:    rs.LagSeconds,
		})
		if rs.LastSuccess.After(snap.LastDelivered) {
			snap.LastDelivered = rs.LastSuccess
		}
		depth = max(depth, rs.LagRecords)
	}
	snap.Spool.DepthRecords = int64(depth)
	snap.Counters = a.counters(&ps, &ss)
	return snap
}
