package agent

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/stirling-iot/stirling/configs"
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

// roisFile is the absolute path of the ROI file cfg reads, or "" when the
// regions come from the binary. A relative path (a Greengrass
// configuration's rois.yaml) is relative to the working directory, which
// the agent never changes: the component's work directory.
func roisFile(cfg *configs.Config) string {
	if cfg.ROIsPath == "" || strings.HasPrefix(cfg.ROIsPath, configs.EmbeddedPrefix) {
		return ""
	}
	abs, err := filepath.Abs(cfg.ROIsPath)
	if err != nil {
		return ""
	}
	return abs
}

// Snapshot gathers every component's counters.
func (a *agent) Snapshot() status.Snapshot {
	ps := a.pipe.Stats()
	ss := a.sp.Stats()
	ws := a.writer.Stats()
	snap := status.Snapshot{
		Time:        a.clk.Now(),
		WallTime:    time.Now(),
		EngineState: ps.EngineState.String(),
		Spool: status.SpoolStatus{
			DepthBytes:          ss.DiskBytes,
			LimitBytes:          ss.MaxBytes,
			DroppedRecords:      ss.DroppedFull + ss.DroppedAge,
			CorruptSkipped:      ss.CorruptSkipped,
			LostReadings:        ws.LostReadings,
			LostReadingsNoSpace: ws.LostNoSpace,
			LostBatches:         ws.Errors,
			LastError:           ws.LastError,
			LastErrorTime:       ws.LastErrorTime,
			FailingSince:        ws.FailingSince,
		},
		// The writer stamps an append once it succeeded, on the spool's
		// clock, which is the wall clock (see newAgent).
		LastSpooled: ws.LastAppend,
	}
	if ns := a.lastSensor.Load(); ns != 0 {
		snap.LastSensor = time.Unix(0, ns)
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
	snap.ROIsFile = roisFile(a.cfg)
	snap.Counters = a.counters(&ps, &ss)
	return snap
}
