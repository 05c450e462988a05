package publish

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// appendBatches appends n batches of perBatch readings numbered on from
// first, without syncing, and returns the next seq.
func appendBatches(t *testing.T, sp *spool.Spool, first uint64, n, perBatch int) uint64 {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range n {
		var b pipeline.Batch
		for range perBatch {
			b.Readings = append(b.Readings, pipeline.Reading{Seq: first, Metric: "rpm", Unit: "rpm",
				Time: t0.Add(time.Duration(first) * time.Millisecond), Value: 1, Count: 1})
			first++
		}
		p, _ := b.AppendBinary(nil)
		if _, err := sp.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	return first
}

// startRun runs r until the returned cancel; done receives Run's result.
func startRun(r *Runner) (cancel context.CancelFunc, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- r.Run(ctx) }()
	return cancel, ch
}

// TestDrainDeliversEverythingSpooled: the shutdown order. Records that
// became readable only with the last sync (the open window the shutdown
// closed into the spool) are delivered before Drain returns, and Run
// returns on its own, with nothing left behind the cursor.
func TestDrainDeliversEverythingSpooled(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Opts{SyncInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	next := appendBatches(t, sp, 1, 3, 4)
	if err := sp.Sync(); err != nil {
		t.Fatal(err)
	}
	cur, err := sp.Cursor("stdout")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := NewRunner(NewStdout(&out, "stdout"), cur, sp, nil)
	cancel, done := startRun(r)
	defer cancel()
	waitFor(t, "the first batches", func() bool { return r.Stats().LagRecords == 0 })

	// More batches, readable only after the sync: as in a shutdown.
	next = appendBatches(t, sp, next, 40, 4)
	if err := sp.Sync(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	// Run closes its stopped channel as it returns; its value reaches done
	// a moment later, from the goroutine that started it.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Drain returned but Run did not")
	}
	if st := r.Stats(); st.LagRecords != 0 || st.State != StateStopped || st.Delivered != next-1 {
		t.Errorf("after Drain: lag %d records, state %s, delivered %d; want 0, stopped, %d",
			st.LagRecords, st.State, st.Delivered, next-1)
	}
	if n := strings.Count(out.String(), "\n"); uint64(n) != next-1 {
		t.Errorf("stdout has %d lines; want %d", n, next-1)
	}
}

// TestDrainStopsAtFailure: a publisher that cannot deliver does not hold
// the shutdown: Drain returns at once (no backoff waits) and the records
// stay behind the cursor for the next start.
func TestDrainStopsAtFailure(t *testing.T) {
	f := newFixture(t, t.TempDir(), 5, 2)
	down := errors.New("not connected")
	p := newFakePub(func(int, *pipeline.Batch, []Result) error { return down })
	o := DefaultRunnerOpts()
	o.Initial, o.Max = time.Minute, time.Minute // a backoff in progress outlasts the test
	r := NewRunner(p, f.cur, f.sp, &o)
	cancel, done := startRun(r)
	defer cancel()
	waitFor(t, "a backoff", func() bool { return r.Stats().State == StateBackoff })

	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	start := time.Now()
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Drain took %v with a failing publisher; want at once", took)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := r.Stats(); st.LagRecords != 5 {
		t.Errorf("lag after a failed drain: %d records; want all 5 kept", st.LagRecords)
	}
}

// TestDrainDeadline: a Send that does not finish holds Drain only until its
// ctx ends; Run then stops with its own ctx, and the unacknowledged record
// stays.
func TestDrainDeadline(t *testing.T) {
	f := newFixture(t, t.TempDir(), 2, 2)
	block := make(chan struct{})
	r := NewRunner(blockingPub{newFakePub(nil), block}, f.cur, f.sp, nil)
	cancel, done := startRun(r)
	<-block // Send started
	ctx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	if err := r.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a stuck Send: %v; want DeadlineExceeded", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after its ctx ended")
	}
	if st := r.Stats(); st.LagRecords != 2 {
		t.Errorf("lag: %d records; want 2 (nothing was acknowledged)", st.LagRecords)
	}
}

// TestRunTwice: a runner runs once.
func TestRunTwice(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1, 1)
	r := NewRunner(newFakePub(acceptAll), f.cur, f.sp, nil)
	cancel, done := startRun(r)
	waitFor(t, "the batch", func() bool { return r.Stats().LagRecords == 0 })
	if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v; want ErrRunning", err)
	}
	cancel()
	<-done
}

// blockingPub's Send signals block, then waits for ctx.
type blockingPub struct {
	*fakePub
	block chan struct{}
}

func (p blockingPub) Send(ctx context.Context, _ *pipeline.Batch, _ []Result) error {
	p.block <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
