package publish

import (
	"context"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// packPub is a fakePub whose unit holds up to fit readings.
type packPub struct {
	*fakePub
	fit  int
	hold time.Duration
}

func (p packPub) MaxLatency() time.Duration   { return p.hold }
func (p packPub) Fits(b *pipeline.Batch) bool { return len(b.Readings) <= p.fit }

// appendRecord spools one record of n readings numbered from seq.
func appendRecord(t *testing.T, sp *spool.Spool, seq uint64, n int) {
	t.Helper()
	var b pipeline.Batch
	for k := range n {
		b.Readings = append(b.Readings, pipeline.Reading{Seq: seq + uint64(k), Metric: "rpm", Time: time.Unix(int64(seq), 0), Value: 1, Count: 1})
	}
	p, _ := b.AppendBinary(nil)
	if _, err := sp.Append(p); err != nil {
		t.Fatal(err)
	}
}

// A Packer's records are held while they fit its unit: the record that
// would overflow starts the next Send, and a Send that is not full goes
// when its first record has waited MaxLatency.
func TestRunnerPacksUpToMaxLatency(t *testing.T) {
	f := newFixture(t, t.TempDir(), 0, 0)
	clk := newFakeClock()
	p := packPub{fakePub: newFakePub(acceptAll), fit: 10, hold: 10 * time.Second}
	stop := run(t, NewRunner(p, f.cur, f.sp, &RunnerOpts{Clock: clk}))
	defer stop()

	appendRecord(t, f.sp, 1, 3)
	if d := clk.wait(t); d != 10*time.Second {
		t.Fatalf("held for %v, want MaxLatency 10s", d)
	}
	appendRecord(t, f.sp, 4, 3)
	clk.wait(t)
	clk.Advance(4 * time.Second)
	appendRecord(t, f.sp, 7, 3)
	if d := clk.wait(t); d != 6*time.Second {
		t.Fatalf("after 4 s, held for %v more, want 6s (the first record's deadline)", d)
	}
	select {
	case c := <-p.sent:
		t.Fatalf("sent %v before the unit was full or the latency passed", c.seqs)
	default:
	}
	appendRecord(t, f.sp, 10, 3) // 12 readings: does not fit
	got := waitCalls(t, p.fakePub, 1)
	if len(got[0].seqs) != 9 || got[0].seqs[0] != 1 || got[0].seqs[8] != 9 {
		t.Fatalf("first Send %v, want seqs 1..9 (the fourth record does not fit)", got[0].seqs)
	}
	waitAcked(t, f.cur, 3)
	if d := clk.wait(t); d != 10*time.Second {
		t.Fatalf("the held record waits %v, want 10s from when it was taken", d)
	}
	clk.Advance(10 * time.Second)
	got = waitCalls(t, p.fakePub, 1)
	if len(got[0].seqs) != 3 || got[0].seqs[0] != 10 {
		t.Fatalf("second Send %v, want seqs 10..12", got[0].seqs)
	}
	waitAcked(t, f.cur, 4)
}

// MaxLatency 0 sends every record at once, as a publisher without Packer.
func TestRunnerPackerZeroLatency(t *testing.T) {
	f := newFixture(t, t.TempDir(), 0, 0)
	p := packPub{fakePub: newFakePub(acceptAll), fit: 100}
	stop := run(t, NewRunner(p, f.cur, f.sp, &RunnerOpts{Clock: newFakeClock()}))
	defer stop()
	for i := range 3 {
		appendRecord(t, f.sp, uint64(1+3*i), 3)
		waitCalls(t, p.fakePub, 1)
	}
	waitAcked(t, f.cur, 3)
}

// A backlog is merged past the Packer's unit, as for any publisher, so it
// drains in few Sends of full messages.
func TestRunnerPackerMergesBacklog(t *testing.T) {
	f := newFixture(t, t.TempDir(), 10, 3)
	p := packPub{fakePub: newFakePub(acceptAll), fit: 10, hold: 10 * time.Second}
	clk := newFakeClock()
	stop := run(t, NewRunner(p, f.cur, f.sp, &RunnerOpts{MergeReadings: 1000, Clock: clk}))
	defer stop()
	got := waitCalls(t, p.fakePub, 1)
	if len(got[0].seqs) < 27 {
		t.Errorf("first Send of a 10-record backlog has %d readings, want at least 9 records' worth", len(got[0].seqs))
	}
	clk.Advance(10 * time.Second)
	waitAcked(t, f.cur, 10)
}

// Drain does not wait out a hold: the held Send goes at once.
func TestRunnerPackerDrainSendsAtOnce(t *testing.T) {
	f := newFixture(t, t.TempDir(), 0, 0)
	clk := newFakeClock()
	p := packPub{fakePub: newFakePub(acceptAll), fit: 100, hold: time.Hour}
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{Clock: clk})
	stop := run(t, r)
	defer stop()
	appendRecord(t, f.sp, 1, 3)
	clk.wait(t) // holding
	if err := f.sp.Sync(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := waitCalls(t, p.fakePub, 1); len(got[0].seqs) != 3 {
		t.Fatalf("Send %v, want the held record", got[0].seqs)
	}
	waitAcked(t, f.cur, 1)
}
