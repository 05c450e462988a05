package publish

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// fakeClock is the manual test clock; it records every wait the runner
// starts.
type fakeClock struct{ *clocktest.Fake }

func newFakeClock() fakeClock {
	return fakeClock{clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).RecordWaits()}
}

// wait returns the next backoff wait the runner started.
func (c fakeClock) wait(t *testing.T) time.Duration {
	t.Helper()
	d, ok := c.NextWait(5 * time.Second)
	if !ok {
		t.Fatal("the runner did not start a backoff wait")
	}
	return d
}

// call is one Send the fake publisher saw.
type call struct {
	id   uint64
	seqs []uint64
}

// fakePub answers Send from a script: script(n, b, res) for the n-th call
// (from 0).
type fakePub struct {
	mu     sync.Mutex
	calls  []call
	script func(n int, b *pipeline.Batch, res []Result) error
	sent   chan call
	ready  chan struct{}
}

func newFakePub(script func(n int, b *pipeline.Batch, res []Result) error) *fakePub {
	return &fakePub{script: script, sent: make(chan call, 1000)}
}

func (p *fakePub) Name() string { return "fake" }
func (p *fakePub) Close() error { return nil }

func (p *fakePub) Send(ctx context.Context, b *pipeline.Batch, res []Result) error {
	c := call{id: b.ID}
	for _, r := range b.Readings {
		c.seqs = append(c.seqs, r.Seq)
	}
	p.mu.Lock()
	n := len(p.calls)
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	err := p.script(n, b, res)
	p.sent <- c
	return err
}

// readyPub is a fakePub that also signals reconnection.
type readyPub struct{ *fakePub }

func (p readyPub) Ready() <-chan struct{} { return p.ready }

func acceptAll(_ int, _ *pipeline.Batch, res []Result) error {
	for i := range res {
		res[i].Status = Accepted
	}
	return nil
}

// fixture is a spool with batches of readings numbered from 1.
type fixture struct {
	dir string
	sp  *spool.Spool
	cur *spool.Cursor
}

func newFixture(t *testing.T, dir string, batches, perBatch int) *fixture {
	t.Helper()
	sp, err := spool.Open(dir, spool.Opts{SyncInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	seq := sp.Stats().NextSeq
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range batches {
		b := pipeline.Batch{}
		for k := range perBatch {
			b.Readings = append(b.Readings, pipeline.Reading{Seq: (seq-1+uint64(i))*uint64(perBatch) + uint64(k) + 1,
				Metric: "rpm", Unit: "rpm", Time: t0.Add(time.Duration(i) * time.Second), Value: float64(k), Count: 1})
		}
		p, _ := b.AppendBinary(nil)
		if _, err := sp.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := sp.Cursor("fake")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, sp: sp, cur: cur}
}

// run starts r and returns a stop function that cancels it and checks it
// returned within a second.
func run(t *testing.T, r *Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Run did not return within 1 s of cancel")
		}
	}
}

func waitCalls(t *testing.T, p *fakePub, n int) []call {
	t.Helper()
	var got []call
	for len(got) < n {
		select {
		case c := <-p.sent:
			got = append(got, c)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d Send calls, want %d", len(got), n)
		}
	}
	return got
}

func waitAcked(t *testing.T, cur *spool.Cursor, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for cur.Stats().Acked < seq {
		if time.Now().After(deadline) {
			t.Fatalf("cursor acked %d, want %d", cur.Stats().Acked, seq)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunnerDeliversInOrder(t *testing.T) {
	f := newFixture(t, t.TempDir(), 20, 5)
	p := newFakePub(acceptAll)
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{MergeReadings: 1, Clock: newFakeClock()})
	stop := run(t, r)
	calls := waitCalls(t, p, 20)
	waitAcked(t, f.cur, 20)
	stop()
	var want uint64 = 1
	for i, c := range calls {
		if c.id != uint64(i+1) {
			t.Fatalf("call %d sent batch %d", i, c.id)
		}
		for _, s := range c.seqs {
			if s != want {
				t.Fatalf("reading %d sent as %d", want, s)
			}
			want++
		}
	}
	st := r.Stats()
	if st.Delivered != 100 || st.Batches != 20 || st.State != StateStopped || st.LastSuccess.IsZero() || st.LagRecords != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunnerResults(t *testing.T) {
	tests := []struct {
		name      string
		script    func(n int, b *pipeline.Batch, res []Result) error
		wantCalls [][]uint64 // readings per Send
		rejected  uint64
	}{
		{
			name: "partial acceptance resends only the rest",
			script: func(n int, b *pipeline.Batch, res []Result) error {
				if n == 0 {
					res[0].Status, res[2].Status = Accepted, Accepted
					res[1].Reason = "throttled"
					return nil
				}
				return acceptAll(n, b, res)
			},
			wantCalls: [][]uint64{{1, 2, 3, 4}, {2, 4}},
		},
		{
			name: "whole-batch error keeps every reading",
			script: func(n int, b *pipeline.Batch, res []Result) error {
				if n < 2 {
					return errors.New("not connected")
				}
				return acceptAll(n, b, res)
			},
			wantCalls: [][]uint64{{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}},
		},
		{
			name: "error after partial results keeps what was accepted",
			script: func(n int, b *pipeline.Batch, res []Result) error {
				if n == 0 {
					res[3].Status = Accepted
					return errors.New("connection lost")
				}
				return acceptAll(n, b, res)
			},
			wantCalls: [][]uint64{{1, 2, 3, 4}, {1, 2, 3}},
		},
		{
			name: "rejected readings are quarantined, not resent",
			script: func(n int, b *pipeline.Batch, res []Result) error {
				acceptAll(n, b, res)
				if n == 0 {
					res[1] = Result{Status: Rejected, Reason: "timestamp out of range"}
					res[2] = Result{Status: Rejected, Reason: "unknown property"}
				}
				return nil
			},
			wantCalls: [][]uint64{{1, 2, 3, 4}, {5, 6, 7, 8}},
			rejected:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), 2, 4)
			clk := newFakeClock()
			p := newFakePub(tt.script)
			r := NewRunner(p, f.cur, f.sp, &RunnerOpts{MergeReadings: 1, Clock: clk})
			stop := run(t, r)
			for i, want := range tt.wantCalls {
				c := waitCalls(t, p, 1)[0]
				if !slices.Equal(c.seqs, want) || c.id != (want[0]-1)/4+1 {
					t.Fatalf("call %d sent batch %d readings %v, want %v", i, c.id, c.seqs, want)
				}
				if i+1 < len(tt.wantCalls) && tt.wantCalls[i+1][0] <= want[len(want)-1] {
					clk.Advance(clk.wait(t))
				}
			}
			waitAcked(t, f.cur, 1)
			stop()
			if st := r.Stats(); st.Rejected != tt.rejected {
				t.Fatalf("Rejected = %d, want %d", st.Rejected, tt.rejected)
			}
			if tt.rejected > 0 {
				checkQuarantine(t, f.dir, tt.rejected)
			}
		})
	}
}

func checkQuarantine(t *testing.T, dir string, want uint64) {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, spool.QuarantineFile))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var n uint64
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var e spool.QuarantineEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		// Readable JSON: the readings are objects, not a base64 record.
		rs, err := ParseReadingsJSON(e.Readings)
		if err != nil {
			t.Fatalf("quarantine line %s: %v", sc.Bytes(), err)
		}
		if e.Publisher != "fake" || e.Seq != 1 || e.Reason == "" || len(rs) != 1 || e.Payload != nil || rs[0].Metric != "rpm" {
			t.Fatalf("quarantine entry %s with %d readings", sc.Bytes(), len(rs))
		}
		n += uint64(len(rs))
	}
	if n != want {
		t.Fatalf("%d readings quarantined, want %d", n, want)
	}
}

func TestRunnerBackoff(t *testing.T) {
	f := newFixture(t, t.TempDir(), 2, 1)
	clk := newFakeClock()
	fail := func(n int, b *pipeline.Batch, res []Result) error {
		if n < 7 || n == 8 {
			return errors.New("broker unreachable")
		}
		return acceptAll(n, b, res)
	}
	p := newFakePub(fail)
	opts := RunnerOpts{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.2, FailingAfter: 3, MergeReadings: 1, Clock: clk}
	r := NewRunner(p, f.cur, f.sp, &opts)
	stop := run(t, r)
	defer stop()
	nominal := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, nom := range nominal {
		waitCalls(t, p, 1)
		d := clk.wait(t)
		lo := time.Duration(float64(nom*time.Millisecond) * 0.8)
		if d < lo || d > nom*time.Millisecond {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, lo, nom*time.Millisecond)
		}
		st := r.Stats()
		wantState := StateBackoff
		if i+1 >= opts.FailingAfter {
			wantState = StateFailing
		}
		if st.State != wantState || st.Reason != "broker unreachable" || st.LastError != "broker unreachable" {
			t.Fatalf("after %d failures: state %q reason %q", i+1, st.State, st.Reason)
		}
		clk.Advance(d)
	}
	waitCalls(t, p, 1) // the 8th call succeeds: batch 1 acked
	waitAcked(t, f.cur, 1)
	waitCalls(t, p, 1) // batch 2 fails once: the backoff starts again at Initial
	if d := clk.wait(t); d > 100*time.Millisecond {
		t.Fatalf("backoff not reset after success: %v", d)
	}
	st := r.Stats()
	if st.Failures != 8 || st.Retried != 8 || st.Attempts != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunnerRetriesAtOnceWhenReady(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1, 3)
	clk := newFakeClock()
	fp := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		if n == 0 {
			return errors.New("offline")
		}
		return acceptAll(n, b, res)
	})
	fp.ready = make(chan struct{}, 1)
	r := NewRunner(readyPub{fp}, f.cur, f.sp, &RunnerOpts{Initial: time.Hour, Max: time.Hour, MergeReadings: 1, Clock: clk})
	stop := run(t, r)
	defer stop()
	waitCalls(t, fp, 1)
	clk.wait(t)
	start := time.Now()
	fp.ready <- struct{}{} // reconnected; the clock does not move
	waitCalls(t, fp, 1)
	waitAcked(t, f.cur, 1)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("retry after Ready took %v", el)
	}
}

func TestRunnerStopKeepsUnackedRecord(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, 3, 2)
	clk := newFakeClock()
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		if n == 0 {
			return acceptAll(n, b, res)
		}
		res[0].Status = Accepted // batch 2: half accepted, then stop
		return errors.New("timeout")
	})
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{MergeReadings: 1, Clock: clk})
	stop := run(t, r)
	waitCalls(t, p, 2)
	clk.wait(t)
	stop() // must return within 1 s while backing off
	if err := f.sp.Close(); err != nil {
		t.Fatal(err)
	}

	sp, err := spool.Open(dir, spool.Opts{SyncInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	cur, _ := sp.Cursor("fake")
	p2 := newFakePub(acceptAll)
	stop = run(t, NewRunner(p2, cur, sp, &RunnerOpts{MergeReadings: 1, Clock: newFakeClock()}))
	calls := waitCalls(t, p2, 2)
	waitAcked(t, cur, 3)
	stop()
	if calls[0].id != 2 || calls[1].id != 3 {
		t.Fatalf("after restart sent batches %d, %d; want 2 (unacked) and 3", calls[0].id, calls[1].id)
	}
}

func TestRunnerSendTimeout(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1, 1)
	clk := newFakeClock()
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		if n == 0 {
			time.Sleep(100 * time.Millisecond) // a Send that hangs past its timeout
			return nil
		}
		return acceptAll(n, b, res)
	})
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{SendTimeout: 20 * time.Millisecond, MergeReadings: 1, Clock: clk})
	stop := run(t, r)
	defer stop()
	waitCalls(t, p, 1)
	clk.Advance(clk.wait(t))
	waitCalls(t, p, 1)
	waitAcked(t, f.cur, 1)
	if st := r.Stats(); st.Failures != 1 || !strings.Contains(st.LastError, "timed out") {
		t.Fatalf("stats %+v", st)
	}
}

// A backlog is sent in few large Sends: records already in the spool are
// merged up to MergeReadings, in order, and acknowledged together.
func TestRunnerMergesBacklog(t *testing.T) {
	f := newFixture(t, t.TempDir(), 10, 4)
	var mu sync.Mutex
	var sends [][]uint64
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		mu.Lock()
		var seqs []uint64
		for _, r := range b.Readings {
			seqs = append(seqs, r.Seq)
		}
		sends = append(sends, seqs)
		mu.Unlock()
		return acceptAll(n, b, res)
	})
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{MergeReadings: 12, Clock: newFakeClock()})
	stop := run(t, r)
	defer stop()
	waitAcked(t, f.cur, 10)
	mu.Lock()
	defer mu.Unlock()
	var all []uint64
	for _, s := range sends {
		if len(s) > 12+3 {
			t.Errorf("a Send of %d readings; want at most MergeReadings plus one record's worth", len(s))
		}
		all = append(all, s...)
	}
	if len(sends) >= 10 {
		t.Errorf("%d Sends for a 10-record backlog; want records merged", len(sends))
	}
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("readings sent %v; want 1..40 in order, each once", all)
		}
	}
	if len(all) != 40 {
		t.Fatalf("%d readings sent, want 40", len(all))
	}
}

// A record that announces a restart is never merged into the middle of a
// Send: it starts one, so the announcement applies at the Send's first
// reading; two restarts in one backlog give two announcements.
func TestRunnerRestartStartsASend(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Opts{SyncInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	restarts := map[int]*pipeline.Restart{
		2: {PreviousSeq: 8, PreviousTime: t0.Add(time.Second)},
		4: {PreviousSeq: 16, PreviousTime: t0.Add(3 * time.Second)},
	}
	for i := range 6 {
		b := pipeline.Batch{Restart: restarts[i]}
		for k := range 4 {
			b.Readings = append(b.Readings, pipeline.Reading{Seq: uint64(4*i + k + 1), Metric: "rpm", Time: t0.Add(time.Duration(i) * time.Second), Count: 1})
		}
		p, _ := b.AppendBinary(nil)
		if _, err := sp.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := sp.Cursor("fake")
	if err != nil {
		t.Fatal(err)
	}
	type send struct {
		first, last uint64
		restart     *pipeline.Restart
	}
	var mu sync.Mutex
	var sends []send
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		mu.Lock()
		s := send{first: b.Readings[0].Seq, last: b.Readings[len(b.Readings)-1].Seq}
		if b.Restart != nil {
			rs := *b.Restart
			s.restart = &rs
		}
		sends = append(sends, s)
		mu.Unlock()
		return acceptAll(n, b, res)
	})
	r := NewRunner(p, cur, sp, &RunnerOpts{MergeReadings: 100, Clock: newFakeClock()})
	stop := run(t, r)
	defer stop()
	waitAcked(t, cur, 6)
	mu.Lock()
	defer mu.Unlock()
	want := []send{{1, 8, nil}, {9, 16, restarts[2]}, {17, 24, restarts[4]}}
	if len(sends) != len(want) {
		t.Fatalf("sends %+v, want %+v", sends, want)
	}
	for i, w := range want {
		g := sends[i]
		if g.first != w.first || g.last != w.last || (g.restart == nil) != (w.restart == nil) ||
			g.restart != nil && (g.restart.PreviousSeq != w.restart.PreviousSeq || !g.restart.PreviousTime.Equal(w.restart.PreviousTime)) {
			t.Errorf("send %d = %+v (restart %+v), want %+v (restart %+v)", i, g, g.restart, w, w.restart)
		}
	}
}
