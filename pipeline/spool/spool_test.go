package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAppendNextInOrderAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{SegmentBytes: 4 << 10, SyncInterval: -1})
	for i := uint64(1); i <= 100; i++ {
		seq, err := s.Append(payloadFor(i, 100))
		if err != nil {
			t.Fatal(err)
		}
		if seq != i {
			t.Fatalf("Append %d returned seq %d", i, seq)
		}
	}
	c, err := s.Cursor("mqtt")
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, c, 100)
	for i, r := range recs {
		if r.Seq != uint64(i+1) || !bytes.Equal(r.Payload, payloadFor(r.Seq, 100)) {
			t.Fatalf("record %d: seq %d payload %q", i, r.Seq, r.Payload)
		}
	}
	c.Ack(60)
	if st := s.Stats(); st.Segments < 3 {
		t.Fatalf("want several segments with 4 KiB segments, got %d", st.Segments)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir, Opts{SegmentBytes: 4 << 10, SyncInterval: -1})
	c, _ = s.Cursor("mqtt")
	recs = readAll(t, c, 100)
	if recs[0].Seq != 61 || len(recs) != 40 {
		t.Fatalf("after restart the cursor resumed at %d with %d records, want 61 and 40", recs[0].Seq, len(recs))
	}
	c.Ack(100)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Segments != 1 || st.Cursors[0].Depth != 0 {
		t.Fatalf("after acking everything: %d segments, depth %d; want 1 and 0", st.Segments, st.Cursors[0].Depth)
	}
	s.Close()

	// Every record acknowledged and its segments deleted: numbering goes on.
	s = mustOpen(t, dir, Opts{SegmentBytes: 4 << 10, SyncInterval: -1})
	defer s.Close()
	seq, err := s.Append([]byte("x"))
	if err != nil || seq != 101 {
		t.Fatalf("first append after restart: seq %d err %v, want 101", seq, err)
	}
	if last, p, err := s.Last(); err != nil || last != 101 || string(p) != "x" {
		t.Fatalf("Last = %d %q %v", last, p, err)
	}
	// A publisher added later starts at the oldest stored record, and that
	// is not a drop.
	late, _ := s.Cursor("late")
	if r := readAll(t, late, 101); r[0].Seq != s.Stats().FirstSeq || late.Stats().Dropped != 0 {
		t.Fatalf("new cursor started at %d, dropped %d", r[0].Seq, late.Stats().Dropped)
	}
}

func TestNextWaitsForSync(t *testing.T) {
	clk := newFakeClock()
	s := mustOpen(t, t.TempDir(), Opts{Clock: clk, SyncInterval: time.Second})
	defer s.Close()
	c, _ := s.Cursor("stdout")
	if _, err := s.Append([]byte("first")); err != nil { // synced inline: the first sync is due
		t.Fatal(err)
	}
	if _, err := s.Append([]byte("second")); err != nil { // inside the interval: not synced yet
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r, err := c.Next(ctx); err != nil || string(r.Payload) != "first" {
		t.Fatalf("Next = %q, %v", r.Payload, err)
	}
	got := make(chan Record, 1)
	go func() {
		r, err := c.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case r := <-got:
		t.Fatalf("Next returned unsynced record %q", r.Payload)
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Second)
	if !s.tick() {
		t.Fatal("tick on an open spool returned false")
	}
	select {
	case r := <-got:
		if string(r.Payload) != "second" {
			t.Fatalf("got %q after sync", r.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next was not woken by the sync")
	}
	if st := s.Stats(); st.Syncs < 2 {
		t.Fatalf("Syncs = %d", st.Syncs)
	}
}

func TestTornTailTruncatedOnOpen(t *testing.T) {
	for _, cut := range []int64{1, 10, frameHeader, frameHeader + 30} {
		t.Run(strings.ReplaceAll(time.Duration(cut).String(), "ns", "B"), func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, Opts{SyncInterval: -1})
			for i := uint64(1); i <= 5; i++ {
				if _, err := s.Append(payloadFor(i, 60)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			seg := filepath.Join(dir, segName(1))
			st, _ := os.Stat(seg)
			if err := os.Truncate(seg, st.Size()-cut); err != nil {
				t.Fatal(err)
			}
			log, buf := testLogger()
			s, err := Open(dir, Opts{SyncInterval: -1}, log)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			stats := s.Stats()
			if stats.TornTails != 1 || stats.NextSeq != 5 {
				t.Fatalf("TornTails %d NextSeq %d, want 1 and 5", stats.TornTails, stats.NextSeq)
			}
			if !strings.Contains(buf.String(), "truncated torn tail") {
				t.Fatalf("no log line: %s", buf)
			}
			seq, err := s.Append(payloadFor(5, 60))
			if err != nil || seq != 5 {
				t.Fatalf("append after repair: %d %v", seq, err)
			}
			c, _ := s.Cursor("c")
			recs := readAll(t, c, 5)
			if len(recs) != 5 || s.Stats().CorruptSkipped != 0 {
				t.Fatalf("got %d records, %d corrupt", len(recs), s.Stats().CorruptSkipped)
			}
		})
	}
}

func TestCorruptRecordSkipped(t *testing.T) {
	tests := []struct {
		name string
		seq  uint64 // record whose byte is flipped
		at   int    // offset inside that frame
	}{
		{"payload in an old segment", 3, frameHeader + 5},
		{"length in an old segment", 4, 1},
		{"payload in the newest segment", 38, frameHeader + 40},
		{"seq field in the newest segment", 37, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Opts{SegmentBytes: 4 << 10, SyncInterval: -1}
			s := mustOpen(t, dir, opts)
			offs := map[uint64][2]uint64{} // seq -> segment base, offset
			for i := uint64(1); i <= 40; i++ {
				if _, err := s.Append(payloadFor(i, 200)); err != nil {
					t.Fatal(err)
				}
				s.mu.Lock()
				offs[i] = [2]uint64{s.last.base, uint64(s.last.off)}
				s.mu.Unlock()
			}
			s.Close()
			loc := offs[tt.seq]
			f, err := os.OpenFile(filepath.Join(dir, segName(loc[0])), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			f.ReadAt(b, int64(loc[1])+int64(tt.at))
			b[0] ^= 0x5a
			f.WriteAt(b, int64(loc[1])+int64(tt.at))
			f.Close()

			log, buf := testLogger()
			s, err = Open(dir, opts, log)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c, _ := s.Cursor("c")
			recs := readAll(t, c, 40)
			var seqs []uint64
			for _, r := range recs {
				if !bytes.Equal(r.Payload, payloadFor(r.Seq, 200)) {
					t.Fatalf("seq %d: wrong payload", r.Seq)
				}
				seqs = append(seqs, r.Seq)
			}
			if len(recs) != 39 {
				t.Fatalf("got %d records %v, want 39", len(recs), seqs)
			}
			for _, q := range seqs {
				if q == tt.seq {
					t.Fatalf("corrupted record %d delivered", q)
				}
			}
			st := s.Stats()
			if st.CorruptSkipped != 1 || st.Cursors[0].Corrupt != 1 || st.TornTails != 0 {
				t.Fatalf("CorruptSkipped %d cursor %d TornTails %d", st.CorruptSkipped, st.Cursors[0].Corrupt, st.TornTails)
			}
			if !strings.Contains(buf.String(), "skipped corrupt bytes") {
				t.Fatalf("no log line: %s", buf)
			}
		})
	}
}

func TestFullSpoolDropsOldest(t *testing.T) {
	log, buf := testLogger()
	s, err := Open(t.TempDir(), Opts{MaxBytes: 64 << 10, SegmentBytes: 16 << 10, SyncInterval: -1}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := s.Cursor("slow")
	const n = 1000
	for i := uint64(1); i <= n; i++ {
		if _, err := s.Append(payloadFor(i, 300)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	st := s.Stats()
	if st.DiskBytes > 64<<10 {
		t.Fatalf("spool holds %d bytes, limit %d", st.DiskBytes, 64<<10)
	}
	if st.DroppedFull == 0 || st.DroppedFull != st.FirstSeq-1 {
		t.Fatalf("DroppedFull %d, first stored seq %d", st.DroppedFull, st.FirstSeq)
	}
	if !strings.Contains(buf.String(), "dropped oldest segment") || !strings.Contains(buf.String(), "reason=full") {
		t.Fatalf("drop not logged: %.500s", buf)
	}
	recs := readAll(t, c, n)
	if recs[0].Seq != st.FirstSeq || len(recs) != int(n-st.FirstSeq+1) {
		t.Fatalf("cursor started at %d with %d records; first stored %d", recs[0].Seq, len(recs), st.FirstSeq)
	}
	if cs := s.Stats().Cursors[0]; cs.Dropped != st.FirstSeq-1 {
		t.Fatalf("cursor Dropped %d, want %d", cs.Dropped, st.FirstSeq-1)
	}
	if !strings.Contains(buf.String(), "cursor skipped dropped records") {
		t.Fatal("cursor skip not logged")
	}
}

func TestAgeRetention(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{MaxAge: time.Hour, SegmentBytes: 4 << 10, SyncInterval: -1, Clock: clk})
	defer s.Close()
	c, _ := s.Cursor("c")
	for i := uint64(1); i <= 60; i++ { // ~4 segments, one minute apart each
		clk.Advance(time.Minute)
		if _, err := s.Append(payloadFor(i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(90 * time.Minute) // every record is now older than an hour
	s.tick()
	st := s.Stats()
	if st.Segments != 1 || st.DroppedAge == 0 {
		t.Fatalf("after expiry: %d segments, DroppedAge %d", st.Segments, st.DroppedAge)
	}
	// The newest segment is kept for numbering, but its records are expired
	// too: the cursor skips them.
	if _, err := s.Append([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Next(ctx)
	if err != nil || string(r.Payload) != "fresh" {
		t.Fatalf("Next = %q %v, want the fresh record", r.Payload, err)
	}
	if cs := s.Stats().Cursors[0]; cs.Dropped != 60 {
		t.Fatalf("cursor Dropped %d, want 60", cs.Dropped)
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{MaxQuarantineBytes: 400})
	defer s.Close()
	for i := uint64(1); i <= 4; i++ {
		e := QuarantineEntry{Publisher: "sitewise", Seq: i, Reason: "timestamp older than 7 days", Readings: json.RawMessage(`[{"seq":` + strconv.FormatUint(i, 10) + `,"metric":"rpm"}]`)}
		if err := s.Quarantine(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Quarantine(QuarantineEntry{Publisher: "sitewise", Seq: 5, Reason: "undecodable", Payload: []byte{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(filepath.Join(dir, QuarantineFile+".1"))
	b, err := os.ReadFile(filepath.Join(dir, QuarantineFile))
	if err != nil {
		t.Fatal(err)
	}
	b = append(b1, b...)
	if !strings.Contains(string(b), `"readings":[{"seq":4,"metric":"rpm"}]`) {
		t.Fatalf("entry is not readable JSON: %s", b)
	}
	es, damaged, err := ReadQuarantine(dir)
	if err != nil || len(damaged) > 0 {
		t.Fatal(err, damaged)
	}
	last := es[len(es)-1]
	if last.Publisher != "sitewise" || last.Seq != 5 || !bytes.Equal(last.Payload, []byte{0, 1, 2}) || last.Time.IsZero() {
		t.Fatalf("entry %+v", last)
	}
	if _, err := os.Stat(filepath.Join(dir, QuarantineFile+".1")); err != nil {
		t.Fatalf("quarantine file not rotated at 400 bytes: %v", err)
	}
	if s.Stats().Quarantined != 5 {
		t.Fatalf("Quarantined = %d", s.Stats().Quarantined)
	}
}

// TestRequeue: entries of the chosen publisher move to its requeue
// directory and out of the quarantine, while the agent keeps appending:
// nothing is lost or duplicated.
func TestRequeue(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{MaxQuarantineBytes: 1 << 20})
	defer s.Close()
	entry := func(pub string, seq uint64) QuarantineEntry {
		return QuarantineEntry{Publisher: pub, Seq: seq, Reason: "rejected", Readings: json.RawMessage(`[{"seq":` + strconv.FormatUint(seq, 10) + `}]`)}
	}
	for i := uint64(1); i <= 20; i++ {
		pub := "a"
		if i%2 == 0 {
			pub = "b"
		}
		if err := s.Quarantine(entry(pub, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Quarantine(QuarantineEntry{Publisher: "a", Seq: 99, Reason: "undecodable", Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	// The agent appends b's entries while the operator requeues a's.
	done := make(chan error, 1)
	go func() {
		for i := uint64(100); i < 150; i++ {
			if err := s.Quarantine(entry("b", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	res, err := Requeue(dir, func(e *QuarantineEntry) bool { return e.Publisher == "a" })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Requeued["a"] != 10 || len(res.Requeued) != 1 || res.Readings != 10 || res.Undecodable != 1 || len(res.Files) != 1 {
		t.Fatalf("result %+v", res)
	}
	files, err := RequeueFiles(dir, "a")
	if err != nil || len(files) != 1 {
		t.Fatalf("requeue files %v %v", files, err)
	}
	got, _, err := ReadRequeueFile(files[0])
	if err != nil || len(got) != 10 || got[0].Seq != 1 || got[9].Seq != 19 {
		t.Fatalf("requeue file holds %+v %v", got, err)
	}
	if other, _ := RequeueFiles(dir, "b"); len(other) != 0 {
		t.Fatalf("requeue files for b: %v", other)
	}
	es, damaged, err := ReadQuarantine(dir)
	if err != nil || len(damaged) > 0 {
		t.Fatal(err, damaged)
	}
	var bs, as int
	for _, e := range es {
		switch {
		case e.Publisher == "b":
			bs++
		case e.Seq == 99:
			as++
		default:
			t.Errorf("requeued entry %d still in the quarantine", e.Seq)
		}
	}
	if bs != 60 || as != 1 {
		t.Errorf("quarantine keeps %d of b's 60 entries and %d of 1 undecodable", bs, as)
	}
	if err := s.RemoveRequeueFile(files[0]); err != nil {
		t.Fatal(err)
	}
	if left, _ := RequeueFiles(dir, "a"); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

func TestCursorNames(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Opts{})
	defer s.Close()
	for _, name := range []string{"", "../x", ".hidden", "a/b", strings.Repeat("x", 65)} {
		if _, err := s.Cursor(name); !errors.Is(err, ErrCursorName) {
			t.Errorf("Cursor(%q) = %v, want ErrCursorName", name, err)
		}
	}
	a, _ := s.Cursor("mqtt-core_1.x")
	b, _ := s.Cursor("mqtt-core_1.x")
	if a != b {
		t.Fatal("same name, different cursors")
	}
}

func TestCursorFileTornWriteKeepsPreviousSlot(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{SyncInterval: -1})
	c, _ := s.Cursor("c")
	for i := uint64(1); i <= 3; i++ {
		s.Append(payloadFor(i, 10))
		readAll(t, c, i)
		c.Ack(i)
		s.Sync()
	}
	s.Close()
	// Garble the slot written last (generation 3 -> slot 1).
	p := filepath.Join(dir, "c"+curSuffix)
	b, _ := os.ReadFile(p)
	b[slotSize+2] ^= 0xff
	os.WriteFile(p, b, 0o640)
	s = mustOpen(t, dir, Opts{SyncInterval: -1})
	defer s.Close()
	c, _ = s.Cursor("c")
	if r := readAll(t, c, 3); r[0].Seq != 3 {
		t.Fatalf("resumed at %d, want 3 (the previous slot)", r[0].Seq)
	}
}

// TestFullDisk fills a 256 KiB tmpfs (when the test may mount one; else,
// and always in the second case, a write seam that fails with ENOSPC,
// partial writes included).
func TestFullDisk(t *testing.T) {
	for _, mode := range []string{"tmpfs", "seam"} {
		t.Run(mode, func(t *testing.T) { testFullDisk(t, mode == "tmpfs") })
	}
}

func testFullDisk(t *testing.T, tryTmpfs bool) {
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	tmpfs := tryTmpfs && mountTmpfs(dir, "256k") == nil
	budget := int64(256 << 10)
	var used int64
	if tmpfs {
		t.Cleanup(func() { unmount(dir) })
		t.Log("full disk: a 256 KiB tmpfs")
	} else {
		t.Log("full disk: injecting ENOSPC through the write seam")
	}
	opts := Opts{SegmentBytes: 32 << 10, MaxBytes: 64 << 20, SyncInterval: -1}
	s := mustOpen(t, dir, opts)
	if !tmpfs {
		s.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
			if used+int64(len(b)) > budget {
				n, _ := f.WriteAt(b[:max(0, budget-used)], off)
				used += int64(n)
				return n, syscall.ENOSPC
			}
			used += int64(len(b))
			return f.WriteAt(b, off)
		}
	}
	var appended uint64
	var err error
	for i := uint64(1); i < 10000; i++ {
		if _, err = s.Append(payloadFor(i, 500)); err != nil {
			break
		}
		appended = i
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if !strings.HasPrefix(err.Error(), "spool: ") {
		t.Fatalf("error not wrapped by the package: %v", err)
	}
	t.Logf("%d records spooled before the disk filled: %v", appended, err)
	if _, err := s.Append(payloadFor(appended+1, 500)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second append on a full disk: %v", err)
	}
	// Space returns.
	if tmpfs {
		if err := remountTmpfs(dir, "2m"); err != nil {
			t.Fatal(err)
		}
	} else {
		budget = 2 << 20
	}
	seq, err := s.Append(payloadFor(appended+1, 500))
	if err != nil || seq != appended+1 {
		t.Fatalf("append after space returned: seq %d err %v", seq, err)
	}
	if st := s.Stats(); st.AppendErrors < 2 {
		t.Fatalf("AppendErrors = %d", st.AppendErrors)
	}
	s.Close()
	s = mustOpen(t, dir, opts)
	defer s.Close()
	c, _ := s.Cursor("c")
	recs := readAll(t, c, appended+1)
	for i, r := range recs {
		if r.Seq != uint64(i+1) || !bytes.Equal(r.Payload, payloadFor(r.Seq, 500)) {
			t.Fatalf("record %d after the full disk: seq %d", i, r.Seq)
		}
	}
	if st := s.Stats(); st.TornTails != 0 || st.CorruptSkipped != 0 {
		t.Fatalf("torn %d corrupt %d after ENOSPC", st.TornTails, st.CorruptSkipped)
	}
}

// TestWriteAmplification runs 20 minutes of one-second windows of ten
// readings through the spool with one and with three publishers acking as
// they go, and checks that bytes written to disk stay within 1.5x the
// encoded size.
func TestWriteAmplification(t *testing.T) {
	for _, cursors := range []int{1, 3} {
		t.Run(map[int]string{1: "one publisher", 3: "three publishers"}[cursors], func(t *testing.T) {
			clk := newFakeClock()
			s := mustOpen(t, t.TempDir(), Opts{Clock: clk, SegmentBytes: 256 << 10})
			defer s.Close()
			var cs []*Cursor
			for i := range cursors {
				c, _ := s.Cursor(string(rune('a' + i)))
				cs = append(cs, c)
			}
			ctx := context.Background()
			var buf []byte
			readings := 0
			for i := range 1200 {
				clk.Advance(time.Second)
				b := realisticBatch(i, clk.Now())
				buf, _ = b.AppendBinary(buf[:0])
				if _, err := s.Append(buf); err != nil {
					t.Fatal(err)
				}
				readings += len(b.Readings)
				for _, c := range cs {
					r, err := c.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					c.Ack(r.Seq)
				}
				s.tick()
			}
			st := s.Stats()
			ratio := float64(st.BytesWritten) / float64(st.BytesAppended)
			t.Logf("%d batches, %d readings, %.1f encoded bytes/reading; written %d bytes for %d encoded: ratio %.3f; %d syncs",
				st.RecordsAppended, readings, float64(st.BytesAppended)/float64(readings), st.BytesWritten, st.BytesAppended, ratio, st.Syncs)
			if ratio > 1.5 {
				t.Fatalf("write amplification %.3f > 1.5", ratio)
			}
			if st.Segments > 2 {
				t.Fatalf("%d segments left although every publisher acked", st.Segments)
			}
		})
	}
}

func TestDatasyncClosedFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := datasync(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := datasync(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("datasync on a closed file: %v, want os.ErrClosed", err)
	}
}

func TestOpenLocksDirectory(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{})
	if _, err := Open(dir, Opts{}, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	s.Close()
	s = mustOpen(t, dir, Opts{}) // released by Close
	s.Close()
}

func TestOptsCursors(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Opts{SegmentBytes: 4 << 10, SyncInterval: -1, Cursors: []string{"mqtt", "old"}})
	for i := uint64(1); i <= 50; i++ {
		s.Append(payloadFor(i, 200))
	}
	s.Close()
	// "sitewise" is new and opened by Open, so "mqtt" acking everything
	// does not delete what "sitewise" has not read; "old" is removed.
	s = mustOpen(t, dir, Opts{SegmentBytes: 4 << 10, SyncInterval: -1, Cursors: []string{"mqtt", "sitewise"}})
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "old"+curSuffix)); !os.IsNotExist(err) {
		t.Fatalf("stale cursor file kept: %v", err)
	}
	m, _ := s.Cursor("mqtt")
	readAll(t, m, 50)
	m.Ack(50)
	s.Sync()
	sw, _ := s.Cursor("sitewise")
	if r := readAll(t, sw, 50); r[0].Seq != 1 || len(r) != 50 {
		t.Fatalf("sitewise got %d records from %d", len(r), r[0].Seq)
	}
	if st := s.Stats(); len(st.Cursors) != 2 {
		t.Fatalf("cursors %+v", st.Cursors)
	}
}
