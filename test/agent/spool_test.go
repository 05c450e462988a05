package agent

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// undeliverable is a file publisher that can never write: /dev/full
// answers every write with ENOSPC, so the runner retries and everything
// stays in the spool.
func undeliverable() map[string]any {
	return map[string]any{"type": "file", "path": "/dev/full"}
}

// TestCrashLoop: SIGKILL the agent at random points, restart it on the same
// spool and output file, several times. Every reading ever spooled reaches
// the file publisher (seq contiguous from 1, no gap). Readings appear twice
// only right after a restart, as whole batches, and only ones the publisher
// wrote within one spool sync interval before the kill: acknowledgements
// are persisted once per sync_interval (of wall time), so older ones must
// never come again.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	const (
		speedup = 100
		sync    = 100 * time.Millisecond
		// slack covers the spool's tick, the cursor fsync, and this
		// test's 10 ms sampling on a loaded machine.
		slack = 250 * time.Millisecond
		kills = 4
	)
	c := baseConfig(dir, speedup)
	c.set("spool.sync_interval", sync.String())
	cfg := c.write(t, dir)
	out := filepath.Join(dir, "out.jsonl")

	// growth records when the output file grew: (wall time, size).
	type growth struct {
		at   time.Time
		size int64
	}
	var (
		grew   []growth
		cuts   []int64     // file size at each kill: where each restart's output begins
		killed []time.Time // when each SIGKILL was sent
	)
	for i := 0; i < kills; i++ {
		p := start(t, cfg, agenttest.Opts{})
		p.WaitReady(15 * time.Second)
		before := fileSize(out)
		poll(t, 20*time.Second, "new readings after a restart", func() (bool, string) {
			n := fileSize(out)
			return n > before, fmt.Sprintf("%d bytes", n)
		})
		until := time.Now().Add(time.Duration(400+rng.IntN(1100)) * time.Millisecond)
		for time.Now().Before(until) {
			grew = append(grew, growth{time.Now(), fileSize(out)})
			time.Sleep(10 * time.Millisecond)
		}
		killed = append(killed, time.Now())
		p.Kill()
		cuts = append(cuts, fileSize(out))
		grew = append(grew, growth{time.Now(), cuts[len(cuts)-1]})
	}
	// writtenAfter is the latest sampled time at which the file was
	// still at most off bytes long: the byte at off was written after it.
	writtenAfter := func(off int64) time.Time {
		var at time.Time
		for _, g := range grew {
			if g.size > off {
				break
			}
			at = g.at
		}
		return at
	}

	// Run A drains the spool and stops cleanly; the pipeline's last
	// window goes into the spool on the way out, after the publisher
	// stopped, so run B delivers it.
	lastSeqA := drainAndStop(t, cfg, out, 0)
	cuts = append(cuts, fileSize(out))
	lastSeq := drainAndStop(t, cfg, out, lastSeqA)

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Split the output at the kills; remember where each seq was first
	// written.
	var parts [][]record
	first := map[uint64]int64{}
	prev := int64(0)
	torn := 0
	for _, cut := range append(cuts, int64(len(b))) {
		recs, n := parseRecords(b[prev:cut])
		torn += n
		for i := range recs {
			recs[i].Off += prev
			if _, ok := first[recs[i].Seq]; !ok {
				first[recs[i].Seq] = recs[i].Off
			}
		}
		parts = append(parts, recs)
		prev = cut
	}
	if torn > kills {
		t.Errorf("%d torn lines; at most one per kill (%d) is possible", torn, kills)
	}

	// No gap: every seq from 1 to the last one spooled before run B is in
	// the file, and nothing beyond what run B spooled.
	seen := map[uint64]int{}
	var total int
	for _, part := range parts {
		for _, r := range part {
			seen[r.Seq]++
			total++
		}
	}
	var missing []uint64
	for s := uint64(1); s <= lastSeqA; s++ {
		if seen[s] == 0 {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d readings lost (first missing seq %d)", len(missing), lastSeqA, missing[0])
	}
	for s := range seen {
		if s > lastSeq {
			t.Errorf("seq %d in the file is beyond the spool's last seq %d", s, lastSeq)
			break
		}
	}

	// Duplicates.
	var maxSeen uint64
	for _, r := range parts[0] {
		maxSeen = max(maxSeen, r.Seq)
	}
	dupTotal := 0
	for k, part := range parts[1:] {
		i := 0
		dupBatches := map[uint64]bool{}
		oldest := int64(-1)
		for i < len(part) && part[i].Seq <= maxSeen {
			dupBatches[part[i].Batch] = true
			if off := first[part[i].Seq]; oldest < 0 || off < oldest {
				oldest = off
			}
			i++
		}
		for _, r := range part[i:] {
			if r.Seq <= maxSeen {
				t.Errorf("restart %d: seq %d (batch %d) comes again, but not at the start of the restart's output", k+1, r.Seq, r.Batch)
				break
			}
		}
		if i > 0 && part[0].Seq != seqStartOfBatch(parts, part[0].Batch) {
			t.Errorf("restart %d: redelivery starts mid-batch at seq %d (batch %d)", k+1, part[0].Seq, part[0].Batch)
		}
		switch {
		case k < kills && i > 0:
			// The oldest reading that came again was written after
			// `after`; it must be younger than one sync interval (plus
			// slack) at the kill.
			after := writtenAfter(oldest)
			age := killed[k].Sub(after)
			t.Logf("restart %d: %d readings (%d batches) came again, written at most %v before the kill",
				k+1, i, len(dupBatches), age.Round(time.Millisecond))
			if age > sync+slack {
				t.Errorf("restart %d: readings written %v before the kill came again; acknowledgements older than sync_interval %v (+%v slack) must have been persisted",
					k+1, age.Round(time.Millisecond), sync, slack)
			}
		case k < kills:
			t.Logf("restart %d: nothing came again", k+1)
		default:
			// After a clean stop only the batch in flight at the signal
			// can come again: the runner drops the result of a Send the
			// shutdown interrupted, even a successful one.
			t.Logf("run after a clean stop: %d readings (%d batches) came again", i, len(dupBatches))
			if len(dupBatches) > 1 {
				t.Errorf("after a clean stop: %d batches came again; want at most the one in flight", len(dupBatches))
			}
		}
		dupTotal += i
		for _, r := range part {
			maxSeen = max(maxSeen, r.Seq)
		}
	}
	t.Logf("%d readings spooled over %d runs (%d SIGKILLs); %d lines in the file, %d duplicates, %d torn lines",
		lastSeq, kills+2, kills, total, dupTotal, torn)
	if lastSeqA < 500 {
		t.Errorf("only %d readings in %d runs; the test did not exercise much", lastSeqA, kills+1)
	}
}

// drainAndStop runs the agent until the file publisher has readings past
// seq want and nothing is left to deliver, stops it with SIGTERM and
// returns the last seq it spooled.
func drainAndStop(t *testing.T, cfg, out string, want uint64) uint64 {
	t.Helper()
	// Slow enough that the file publisher (an fsync per batch) outruns
	// the pipeline and its lag reaches 0.
	p := start(t, cfg, agenttest.Opts{Args: []string{"--speedup", "5"}})
	p.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "the file publisher caught up", func() (bool, string) {
		recs, _ := readRecords(t, out)
		var hi uint64
		for _, r := range recs {
			hi = max(hi, r.Seq)
		}
		st, err := p.status()
		if err != nil {
			return false, err.Error()
		}
		for _, pub := range st.Publishers {
			if hi > want && pub.LagRecords == 0 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("file up to seq %d (want > %d); %+v", hi, want, st.Publishers)
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	m := regexp.MustCompile(`msg="spool synced".* last_seq=(\d+)`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("no \"spool synced ... last_seq=N\" line")
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// seqStartOfBatch is the smallest seq of a batch anywhere in the output.
func seqStartOfBatch(parts [][]record, batch uint64) uint64 {
	lo := uint64(0)
	for _, part := range parts {
		for _, r := range part {
			if r.Batch == batch && (lo == 0 || r.Seq < lo) {
				lo = r.Seq
			}
		}
	}
	return lo
}

// TestSpoolFull: with a publisher that cannot deliver and a small spool,
// the oldest segments are dropped, the drop is counted on /metrics and
// logged as a warning, and the agent keeps running and spooling.
func TestSpoolFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := baseConfig(dir, 2000)
	c.set("spool.max_bytes", "1MiB")
	c.set("spool.segment_bytes", "64KiB")
	c["publishers"] = []any{undeliverable()}
	p := start(t, c.write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)

	var dropped float64
	poll(t, 60*time.Second, `stirling_spool_dropped_records_total{reason="full"} > 0`, func() (bool, string) {
		m, _, err := p.metrics()
		if err != nil {
			return false, err.Error()
		}
		dropped = m[`stirling_spool_dropped_records_total{reason="full"}`]
		return dropped > 0, fmt.Sprintf("dropped %v, disk %v bytes", dropped, m["stirling_spool_depth_bytes"])
	})
	p.Stderr.Wait(t, regexp.MustCompile(`level=WARN[^\n]*dropped oldest segment[^\n]*reason=full`), 5*time.Second)

	// Still running, still spooling, healthy, and the spool stays bounded.
	m1, _, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 20*time.Second, "more records appended after the drop", func() (bool, string) {
		m2, _, err := p.metrics()
		if err != nil {
			return false, err.Error()
		}
		a1, a2 := m1["stirling_spool_appended_records_total"], m2["stirling_spool_appended_records_total"]
		return a2 > a1, fmt.Sprintf("appended %v -> %v", a1, a2)
	})
	code, body, err := p.Get("/healthz")
	if err != nil || code != 200 {
		t.Errorf("/healthz: %d %q %v; want 200", code, body, err)
	}
	m2, _, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if disk, limit := m2["stirling_spool_depth_bytes"], float64(1<<20); disk > limit+64<<10 {
		t.Errorf("spool holds %v bytes; limit 1 MiB (+ one 64 KiB segment)", disk)
	}
	st, err := p.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Spool.DroppedRecords == 0 {
		t.Errorf("/api/status spool.dropped_records = 0 after a drop")
	}
	t.Logf("dropped %v records; spool %v bytes on disk", m2[`stirling_spool_dropped_records_total{reason="full"}`], m2["stirling_spool_depth_bytes"])
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
}

// TestCorruptSegment: one flipped byte in a spool segment costs the record
// it lands in, no more: the record is skipped and counted, and every other
// spooled reading is delivered after the restart.
func TestCorruptSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := baseConfig(dir, 100)
	c["publishers"] = []any{undeliverable()}
	cfg := c.write(t, dir)

	// Run 1 spools without delivering.
	p := start(t, cfg, agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "enough records in the spool", func() (bool, string) {
		m, _, err := p.metrics()
		if err != nil {
			return false, err.Error()
		}
		n := m["stirling_spool_appended_records_total"]
		return n >= 40, fmt.Sprintf("%v records", n)
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Fatalf("run 1: exit code %d after SIGTERM", code)
	}
	m := regexp.MustCompile(`msg="spool synced".* last_seq=(\d+)`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatal("no \"spool synced ... last_seq=N\" line")
	}
	lastSeq, _ := strconv.ParseUint(m[1], 10, 64)

	// Flip one byte in the middle of the oldest segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no *.seg file in the spool directory")
	}
	slices.Sort(segs)
	seg := segs[0]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 4096 {
		t.Fatalf("segment %s has only %d bytes", seg, len(data))
	}
	off := len(data) / 2
	data[off] ^= 0x5a
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}
	t.Logf("flipped byte %d of %s (%d bytes); %d readings spooled", off, filepath.Base(seg), len(data), lastSeq)

	// Run 2 delivers to a real file: the same publisher name, so its
	// cursor (nothing acknowledged) applies.
	out := filepath.Join(dir, "out.jsonl")
	c["publishers"] = []any{map[string]any{"type": "file", "path": out, "rotate_bytes": "1GiB"}}
	c.write(t, dir)
	p2 := start(t, cfg, agenttest.Opts{})
	p2.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "readings after the corrupt record delivered", func() (bool, string) {
		recs, _ := readRecords(t, out)
		var hi uint64
		for _, r := range recs {
			hi = max(hi, r.Seq)
		}
		return hi >= lastSeq, fmt.Sprintf("up to seq %d of %d", hi, lastSeq)
	})
	var skipped float64
	poll(t, 10*time.Second, "the corrupt record counted on /metrics", func() (bool, string) {
		m, _, err := p2.metrics()
		if err != nil {
			return false, err.Error()
		}
		skipped = m["stirling_spool_corrupt_skipped_records_total"]
		return skipped > 0, fmt.Sprintf("corrupt_skipped %v", skipped)
	})
	st, err := p2.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Spool.CorruptSkipped == 0 {
		t.Errorf("/api/status spool.corrupt_skipped = 0")
	}
	logs := p2.Stderr.String()
	if !regexp.MustCompile(`(?i)level=(WARN|ERROR)[^\n]*corrupt`).MatchString(logs) {
		t.Errorf("no warning about the corrupt record in the log")
	}
	p2.Signal(syscall.SIGTERM)
	if code := p2.Wait(10 * time.Second); code != 0 {
		t.Errorf("run 2: exit code %d after SIGTERM", code)
	}

	// Exactly the readings of the damaged record(s) are missing.
	recs, _ := readRecords(t, out)
	seen := map[uint64]bool{}
	perBatch := map[uint64]int{}
	for _, r := range recs {
		seen[r.Seq] = true
		perBatch[r.Batch]++
	}
	var missing []uint64
	for s := uint64(1); s <= lastSeq; s++ {
		if !seen[s] {
			missing = append(missing, s)
		}
	}
	biggest := 0
	for _, n := range perBatch {
		biggest = max(biggest, n)
	}
	t.Logf("skipped %v corrupt region(s); %d of %d readings missing (%s)", skipped, len(missing), lastSeq, head(missing, 5))
	if len(missing) == 0 {
		t.Errorf("no reading missing although a record was damaged")
	}
	if len(missing) > 2*biggest {
		t.Errorf("%d readings missing; one damaged byte should cost at most two records (%d readings)", len(missing), 2*biggest)
	}
	if len(missing) > 0 && missing[len(missing)-1]-missing[0]+1 != uint64(len(missing)) {
		t.Errorf("missing readings are not one contiguous run: %v", head(missing, 20))
	}
}

func head(s []uint64, n int) string {
	var b strings.Builder
	for i, v := range s {
		if i == n {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(v, 10))
	}
	return b.String()
}
