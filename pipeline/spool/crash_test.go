package spool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

const (
	childEnv    = "STIRLING_SPOOL_TEST_CHILD"
	childDirEnv = "STIRLING_SPOOL_TEST_DIR"
)

var crashOpts = Opts{SegmentBytes: 16 << 10, MaxBytes: 256 << 20, SyncInterval: 20 * time.Millisecond}

// crashChild appends and acks in a loop until it is killed. It prints
// "S <synced seq> A <persisted ack>" whenever both are durable.
func crashChild(dir string) {
	s, err := Open(dir, crashOpts, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	go s.Run(context.Background())
	c, err := s.Cursor("pub")
	if err != nil {
		os.Exit(2)
	}
	go func() { // the slow publisher
		for {
			r, err := c.Next(context.Background())
			if err != nil {
				os.Exit(3)
			}
			if !bytes.Equal(r.Payload, payloadFor(r.Seq, len(r.Payload))) {
				fmt.Fprintln(os.Stderr, "child: bad payload at", r.Seq)
				os.Exit(4)
			}
			if rand.IntN(3) == 0 {
				c.Ack(r.Seq)
			}
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
	}()
	go func() { // the reporter
		for {
			time.Sleep(10 * time.Millisecond)
			st := s.Stats()
			fmt.Printf("S %d A %d\n", st.SyncedSeq, st.Cursors[0].Persisted)
		}
	}()
	next := s.Stats().NextSeq
	for {
		seq, err := s.Append(payloadFor(next, 20+rand.IntN(800)))
		if err != nil || seq != next {
			fmt.Fprintln(os.Stderr, "child append:", seq, next, err)
			os.Exit(5)
		}
		next++
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	}
}

func childCmd(t testing.TB, mode, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir)
	return cmd
}

// TestCrashSIGKILL kills a real child process that appends and acks, at
// random points, several times, and checks after each kill that every
// synced record is there, that the cursor lost no acknowledgement it had
// persisted, and that delivery is contiguous with no duplicates.
func TestCrashSIGKILL(t *testing.T) {
	dir := t.TempDir()
	var prevNext uint64 = 1
	for round := range 5 {
		cmd := childCmd(t, "crash", dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var synced, acked uint64
		first := make(chan struct{})
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(out)
			once := sync.OnceFunc(func() { close(first) })
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 4 {
					continue
				}
				sv, _ := strconv.ParseUint(f[1], 10, 64)
				av, _ := strconv.ParseUint(f[3], 10, 64)
				mu.Lock()
				synced, acked = sv, av
				mu.Unlock()
				once()
			}
		}()
		select {
		case <-first:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("child printed nothing: %s", stderr.String())
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		mu.Lock()
		lastSynced, lastAcked := synced, acked
		mu.Unlock()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-readDone
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child exited on its own (%v): %s", err, stderr.String())
		}

		s := mustOpen(t, dir, crashOpts)
		st := s.Stats()
		c, _ := s.Cursor("pub")
		cs := c.Stats()
		if st.NextSeq-1 < lastSynced {
			t.Fatalf("round %d: newest seq %d, but %d was reported synced", round, st.NextSeq-1, lastSynced)
		}
		if cs.Acked < lastAcked {
			t.Fatalf("round %d: cursor at %d, but %d was reported persisted", round, cs.Acked, lastAcked)
		}
		if st.NextSeq <= prevNext {
			t.Fatalf("round %d: seq did not advance (%d after %d)", round, st.NextSeq, prevNext)
		}
		recs := readAll(t, c, st.NextSeq-1)
		for i, r := range recs {
			if want := cs.Acked + 1 + uint64(i); r.Seq != want {
				t.Fatalf("round %d: record %d has seq %d, want %d (gap or duplicate)", round, i, r.Seq, want)
			}
			if !bytes.Equal(r.Payload, payloadFor(r.Seq, len(r.Payload))) {
				t.Fatalf("round %d: seq %d has the wrong payload", round, r.Seq)
			}
		}
		if st.CorruptSkipped != 0 || cs.Dropped != 0 {
			t.Fatalf("round %d: corrupt %d dropped %d", round, st.CorruptSkipped, cs.Dropped)
		}
		t.Logf("round %d: killed with %d synced, %d acked persisted; reopened: seq %d..%d, cursor %d, %d redelivered, %d segments, torn tails %d",
			round, lastSynced, lastAcked, st.FirstSeq, st.NextSeq-1, cs.Acked, len(recs), st.Segments, st.TornTails)
		prevNext = st.NextSeq
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// replayChild opens a backlog, replays it through a cursor decoding every
// batch, and prints JSON with the peak memory. It does not acknowledge, so
// the backlog survives for the next run.
func replayChild(dir string) {
	s, err := Open(dir, Opts{MaxBytes: 1 << 30, SegmentBytes: 4 << 20}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := s.Cursor("replay")
	if err != nil {
		os.Exit(2)
	}
	last := s.Stats().NextSeq - 1
	start := time.Now()
	var b pipeline.Batch
	var n, bytes, peakHeap uint64
	var ms runtime.MemStats
	for {
		r, err := c.Next(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if err := b.UnmarshalBinary(r.Payload); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		n++ // no Ack: a benchmark replays the same backlog again
		bytes += uint64(len(r.Payload))
		if n%4096 == 0 {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
		}
		if r.Seq == last {
			break
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&ms)
	peakHeap = max(peakHeap, ms.HeapInuse)
	s.Close()
	json.NewEncoder(os.Stdout).Encode(replayResult{Records: n, Bytes: bytes, Seconds: el.Seconds(), PeakHeap: peakHeap, VmHWM: vmHWM()})
}

type replayResult struct {
	Records, Bytes uint64
	Seconds        float64
	PeakHeap       uint64 // bytes
	VmHWM          uint64 // bytes
}

func vmHWM() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// build24h writes 86,400 one-second batches (a day at 1 Hz) into dir.
func build24h(t testing.TB, dir string) (records int, bytes uint64) {
	t.Helper()
	s := mustOpen(t, dir, Opts{MaxBytes: 1 << 30, SegmentBytes: 4 << 20})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	for i := range 86400 {
		b := realisticBatch(i, t0)
		for k := range b.Readings {
			b.Readings[k].Seq = uint64(i*10 + k + 1)
		}
		buf, _ = b.AppendBinary(buf[:0])
		if _, err := s.Append(buf); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return int(st.RecordsAppended), st.BytesAppended
}

func runReplayChild(t testing.TB, dir string) replayResult {
	t.Helper()
	cmd := childCmd(t, "replay", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("replay child: %v: %s", err, stderr.String())
	}
	var res replayResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("replay child output %q: %v", out, err)
	}
	return res
}

// TestReplay24hMemory replays a 24-hour backlog at 1 Hz in a child process
// and checks its peak RSS stays under 40 MB.
func TestReplay24hMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB backlog")
	}
	dir := t.TempDir()
	n, _ := build24h(t, dir)
	res := runReplayChild(t, dir)
	t.Logf("replayed %d records (%.1f MB) in %.2fs: %.0f records/s, %.1f MB/s; peak heap in use %.1f MB, VmHWM %.1f MB",
		res.Records, float64(res.Bytes)/1e6, res.Seconds, float64(res.Records)/res.Seconds, float64(res.Bytes)/1e6/res.Seconds,
		float64(res.PeakHeap)/1e6, float64(res.VmHWM)/1e6)
	if int(res.Records) != n {
		t.Fatalf("replayed %d of %d records", res.Records, n)
	}
	switch {
	case raceEnabled:
		t.Logf("under -race the RSS bound is not checked (shadow memory); make test-go checks it")
	case res.VmHWM > 40e6:
		t.Fatalf("peak RSS %.1f MB > 40 MB", float64(res.VmHWM)/1e6)
	}
}
