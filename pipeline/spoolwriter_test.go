package pipeline_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// writerMetrics are the ten metrics of a realistic one-second window.
var writerMetrics = []struct{ metric, unit string }{
	{"rpm", "rpm"}, {"hot_cylinder_temp", "degC"}, {"cold_cylinder_temp", "degC"},
	{"flame_temp", "degC"}, {"hot_cold_delta", "degC"}, {"rpm_stddev", "rpm"},
	{"frame_rate", "Hz"}, {"sensor_temp", "degC"}, {"edge_count", "count"}, {"engine_state", ""},
}

// windowBatch is the i-th one-second window of ten readings, mostly
// aggregates, as the pipeline produces them.
func windowBatch(i int, t0 time.Time) *pipeline.Batch {
	b := &pipeline.Batch{}
	ts := t0.Add(time.Duration(i) * time.Second)
	for k, m := range writerMetrics {
		r := pipeline.Reading{Metric: m.metric, Unit: m.unit, Time: ts.Add(time.Duration(k) * time.Millisecond),
			Value: 100 + float64(i%50) + float64(k)/3, Count: 1}
		switch {
		case m.metric == "engine_state":
			r.Text, r.Value = "running", 0
		case k < 5:
			r.Count, r.Min, r.Max, r.Last = 8, r.Value-1.5, r.Value+2.25, r.Value+0.5
		default:
			r.Min, r.Max, r.Last = r.Value, r.Value, r.Value
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}

func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	o := spool.DefaultOpts()
	o.SyncInterval = -1
	o.Cursors = []string{"c"}
	s, err := spool.Open(dir, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newWriter resumes numbering after the newest reading in s, as the agent
// does at start.
func newWriter(t *testing.T, s *spool.Spool, q pipeline.Queue) *pipeline.SpoolWriter {
	t.Helper()
	o := pipeline.DefaultSpoolWriterOpts()
	if _, payload, err := s.Last(); err == nil {
		if o.LastSeq, _, err = pipeline.ResumePoint(payload); err != nil {
			t.Fatal(err)
		}
	} else if !errors.Is(err, spool.ErrEmpty) {
		t.Fatal(err)
	}
	w, err := pipeline.NewSpoolWriter(q, &o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSpoolWriterNumbersReadingsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(batches int) []*pipeline.Batch {
		s := openSpool(t, dir)
		defer s.Close()
		w := newWriter(t, s, s)
		in := make(chan *pipeline.Batch)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, in) }()
		var sent []*pipeline.Batch
		for i := range batches {
			b := windowBatch(i, t0)
			in <- b
			sent = append(sent, b)
		}
		cancel()
		// Run keeps draining after cancel until in is closed.
		extra := windowBatch(batches, t0)
		in <- extra
		in <- &pipeline.Batch{} // empty: skipped
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if ws := w.Stats(); ws.Batches != uint64(batches+1) || ws.Errors != 0 || ws.LastAppend.IsZero() {
			t.Fatalf("writer stats %+v", ws)
		}
		return append(sent, extra)
	}
	first := run(3)
	second := run(2)
	var want uint64 = 1
	for _, b := range append(first, second...) {
		for _, r := range b.Readings {
			if r.Seq != want {
				t.Fatalf("reading seq %d, want %d", r.Seq, want)
			}
			want++
		}
	}
	s := openSpool(t, dir)
	defer s.Close()
	c, err := s.Cursor("c")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []spool.Record
	for len(recs) < 7 {
		r, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(recs), err)
		}
		recs = append(recs, r)
	}
	var b pipeline.Batch
	if err := b.UnmarshalBinary(recs[6].Payload); err != nil {
		t.Fatal(err)
	}
	if recs[6].Seq != second[2].ID || b.Readings[9].Seq != want-1 {
		t.Fatalf("last record %d (batch ID %d), last reading %d want %d", recs[6].Seq, second[2].ID, b.Readings[9].Seq, want-1)
	}
}

// fullDisk is a real spool whose appends fail with ENOSPC while full is
// set, as a file system with no space left does.
type fullDisk struct {
	*spool.Spool
	full atomic.Bool
}

func (d *fullDisk) Append(p []byte) (uint64, error) {
	if d.full.Load() {
		return 0, &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
	}
	return d.Spool.Append(p)
}

// TestSpoolWriterFullDisk: batches the disk refuses are counted with their
// readings, the error and its time are kept, a failure is not a stamp of
// progress, and the first append that works again ends the failure.
func TestSpoolWriterFullDisk(t *testing.T) {
	s := openSpool(t, t.TempDir())
	defer s.Close()
	q := &fullDisk{Spool: s}
	w := newWriter(t, s, q)
	in := make(chan *pipeline.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), in) }()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	send := func(i int) int {
		b := windowBatch(i, t0)
		in <- b
		return len(b.Readings)
	}
	// Run has taken a batch from in when the next send is accepted; the
	// last one is synchronised by an empty batch, which Run skips.
	barrier := func() { in <- &pipeline.Batch{} }

	send(0)
	barrier()
	ok := w.Stats()
	if ok.Batches != 1 || ok.LastAppend.IsZero() || ok.LastError != "" || !ok.FailingSince.IsZero() {
		t.Fatalf("after one good append: %+v", ok)
	}
	q.full.Store(true)
	lost := send(1) + send(2)
	barrier()
	st := w.Stats()
	if st.Errors != 2 || st.LostReadings != uint64(lost) || st.LostNoSpace != uint64(lost) {
		t.Fatalf("full disk: errors %d lost %d (no space %d); want 2 batches, %d readings", st.Errors, st.LostReadings, st.LostNoSpace, lost)
	}
	if st.Batches != 1 || st.Readings != ok.Readings || !st.LastAppend.Equal(ok.LastAppend) || st.LastSeq != ok.LastSeq {
		t.Fatalf("a failed append counted as progress: %+v (before %+v)", st, ok)
	}
	if !strings.HasPrefix(st.LastError, "ENOSPC: ") || st.LastErrorTime.IsZero() || st.FailingSince.IsZero() || st.FailingSince.After(st.LastErrorTime) {
		t.Fatalf("error state %q at %v, failing since %v", st.LastError, st.LastErrorTime, st.FailingSince)
	}
	q.full.Store(false)
	send(3)
	barrier()
	st = w.Stats()
	if st.Batches != 2 || !st.FailingSince.IsZero() || !st.LastAppend.After(st.LastErrorTime) && !st.LastAppend.Equal(st.LastErrorTime) {
		t.Fatalf("after space returned: %+v", st)
	}
	if st.LostReadings != uint64(lost) {
		t.Fatalf("lost readings %d changed after recovery; want %d", st.LostReadings, lost)
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSpoolWriterCollector: the writer's collector reports its Stats.
func TestSpoolWriterCollector(t *testing.T) {
	s := openSpool(t, t.TempDir())
	defer s.Close()
	w := newWriter(t, s, s)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w)
	want := `
# HELP stirling_last_spooled_timestamp_seconds Unix time a batch was last written to the spool; 0 when never.
# TYPE stirling_last_spooled_timestamp_seconds gauge
stirling_last_spooled_timestamp_seconds 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stirling_last_spooled_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestSpoolWriterAnnouncesRestart: the first batch appended after a restart
// carries where the previous process left off; a batch the disk refused
// does not use the announcement up; later batches carry none.
func TestSpoolWriterAnnouncesRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openSpool(t, dir)
	for i := range 2 {
		b := windowBatch(i, t0)
		for j := range b.Readings {
			b.Readings[j].Seq = uint64(10*i + j + 1)
		}
		p, _ := b.AppendBinary(nil)
		if _, err := s.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	_, payload, err := s.Last()
	if err != nil {
		t.Fatal(err)
	}
	lastSeq, newest, err := pipeline.ResumePoint(payload)
	if err != nil || lastSeq != 20 || !newest.Equal(t0.Add(time.Second+9*time.Millisecond)) {
		t.Fatalf("ResumePoint = %d, %v, %v; want 20 at %v", lastSeq, newest, err, t0.Add(time.Second+9*time.Millisecond))
	}
	q := &fullDisk{Spool: s}
	q.full.Store(true)
	rs := &pipeline.Restart{PreviousSeq: lastSeq, PreviousTime: newest}
	w, err := pipeline.NewSpoolWriter(q, &pipeline.SpoolWriterOpts{LastSeq: lastSeq, Restart: rs})
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *pipeline.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), in) }()
	in <- windowBatch(5, t0) // refused
	in <- &pipeline.Batch{}  // barrier
	q.full.Store(false)
	for i := 6; i < 8; i++ {
		in <- windowBatch(i, t0)
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := s.Cursor("c")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 4 {
		rec, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var b pipeline.Batch
		if err := b.UnmarshalBinary(rec.Payload); err != nil {
			t.Fatal(err)
		}
		switch {
		case i < 2 && b.Restart != nil:
			t.Errorf("record %d of the previous process announces %+v", i, b.Restart)
		case i == 2 && (b.Restart == nil || *b.Restart != *rs || b.Readings[0].Seq != lastSeq+1):
			t.Errorf("first record after the restart: restart %+v first seq %d; want %+v at seq %d", b.Restart, b.Readings[0].Seq, rs, lastSeq+1)
		case i == 3 && b.Restart != nil:
			t.Errorf("second record after the restart announces again: %+v", b.Restart)
		}
	}
	s.Close()
}
