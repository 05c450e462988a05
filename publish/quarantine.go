package publish

import (
	"context"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// quarantineReadings writes rejected readings to the quarantine file, one
// entry per distinct reason, each with the record's ID and the readings as
// JSON objects.
func (r *Runner) quarantineReadings(id uint64, rejects []rejection) {
	for len(rejects) > 0 {
		want := rejects[0].reason
		reason := want
		if reason == "" {
			reason = "rejected"
		}
		var rs []pipeline.Reading
		rest := rejects[:0]
		for _, rj := range rejects {
			if rj.reason == want {
				rs = append(rs, rj.reading)
			} else {
				rest = append(rest, rj)
			}
		}
		e := spool.QuarantineEntry{Seq: id, Reason: reason}
		js, err := ReadingsJSON(rs)
		if err != nil {
			r.log.Error("encode rejected readings", "batch", id, "err", err)
			b := pipeline.Batch{ID: id, Readings: rs}
			e.Payload, _ = b.AppendBinary(nil)
		}
		e.Readings = js
		r.quarantine(e, len(rs))
		rejects = rest
	}
}

// quarantineRecord quarantines a record that does not decode: its raw
// payload is all there is to keep.
func (r *Runner) quarantineRecord(rec spool.Record, reason string) {
	r.quarantine(spool.QuarantineEntry{Seq: rec.Seq, Reason: reason, Payload: rec.Payload}, 1)
}

func (r *Runner) quarantine(e spool.QuarantineEntry, readings int) {
	r.update(func(st *RunnerStats) { st.Rejected += uint64(readings) })
	r.log.Warn("readings rejected", "batch", e.Seq, "readings", readings, "reason", e.Reason)
	if r.sp == nil {
		return
	}
	e.Publisher = r.p.Name()
	e.Time = r.clk.Now()
	if err := r.sp.Quarantine(e); err != nil {
		r.update(func(st *RunnerStats) { st.QuarantineErrors += uint64(readings) })
		r.log.Error("quarantine failed; rejected readings dropped", "batch", e.Seq, "readings", readings, "err", err)
	}
}

// drainRequeue delivers the entries an operator requeued for this
// publisher (spool.Requeue), oldest file first, and removes each file once
// all its entries are accepted or quarantined again. It returns false if
// ctx ended first; the file being delivered stays and is delivered again
// (from its start) next time.
func (r *Runner) drainRequeue(ctx context.Context) bool {
	r.requeueCheck = time.Now()
	files, err := spool.RequeueFiles(r.sp.Dir(), r.p.Name())
	if err != nil {
		r.log.Error("requeue directory not listed", "err", err)
		return true
	}
	for _, f := range files {
		es, damaged, err := spool.ReadRequeueFile(f)
		if err != nil {
			r.log.Error("requeued file not read", "file", f, "err", err)
			continue
		}
		for _, d := range damaged {
			r.log.Error("requeued line damaged; skipped", "file", f, "err", d)
		}
		readings := 0
		for _, e := range es {
			rs, err := ParseReadingsJSON(e.Readings)
			if err != nil {
				r.quarantine(spool.QuarantineEntry{Seq: e.Seq, Reason: "requeued entry: " + err.Error(), Readings: e.Readings}, 0)
				continue
			}
			b := pipeline.Batch{ID: e.Seq, Readings: rs}
			n := uint64(len(rs))
			if !r.deliver(ctx, &b) {
				return false
			}
			readings += len(rs)
			r.update(func(st *RunnerStats) { st.Requeued += n })
		}
		if err := r.sp.RemoveRequeueFile(f); err != nil {
			r.log.Error("delivered requeue file not removed", "file", f, "err", err)
			continue
		}
		r.log.Info("requeued entries delivered", "file", f, "entries", len(es), "readings", readings)
	}
	return true
}
