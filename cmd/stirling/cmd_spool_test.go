package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
)

// recorder is a publisher that records the reading seqs it accepted and
// rejects odd seqs until fixed.
type recorder struct {
	name   string
	strict bool
	fixed  atomic.Bool
	mu     sync.Mutex
	got    []uint64
}

func (p *recorder) Name() string { return p.name }
func (p *recorder) Close() error { return nil }
func (p *recorder) Send(_ context.Context, b *pipeline.Batch, res []publish.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range b.Readings {
		if p.strict && !p.fixed.Load() && r.Seq%2 == 1 {
			res[i] = publish.Result{Status: publish.Rejected, Reason: "bad value for the property"}
			continue
		}
		res[i].Status = publish.Accepted
		p.got = append(p.got, r.Seq)
	}
	return nil
}

func (p *recorder) seqs() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func spoolCmd(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"spool"}, args...), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}); err != nil {
		t.Fatalf("stirling spool %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

func pollUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSpoolQuarantineRequeue: publisher a rejects some readings, which go
// to the quarantine as readable JSON; `spool quarantine list` shows them;
// after the cause is fixed `spool quarantine requeue --publisher a`, run
// while the runners are running, delivers them to a and only to a, and
// empties the quarantine.
func TestSpoolQuarantineRequeue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(dir, spool.Opts{SyncInterval: -1, Cursors: []string{"a", "b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	for k := range 2 {
		var b pipeline.Batch
		for i := range 4 {
			seq := uint64(k*4 + i + 1)
			b.Readings = append(b.Readings, pipeline.Reading{Seq: seq, Metric: "hot_temp", Unit: "degC", Time: t0.Add(time.Duration(seq) * time.Second), Value: 80.5, Min: 80, Max: 81, Last: 80.5, Count: 4})
		}
		payload, _ := b.AppendBinary(nil)
		if _, err := sp.Append(payload); err != nil {
			t.Fatal(err)
		}
	}
	a, b := &recorder{name: "a", strict: true}, &recorder{name: "b"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runners []*publish.Runner
	for _, p := range []*recorder{a, b} {
		cur, err := sp.Cursor(p.name)
		if err != nil {
			t.Fatal(err)
		}
		r := publish.NewRunner(p, cur, sp, &publish.RunnerOpts{RequeuePoll: 50 * time.Millisecond, MergeReadings: 1})
		runners = append(runners, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); sp.Close() })
	pollUntil(t, "both publishers through the spool", func() bool {
		return runners[0].Stats().LagRecords == 0 && runners[1].Stats().LagRecords == 0 && len(b.seqs()) == 8
	})

	raw, err := os.ReadFile(filepath.Join(dir, spool.QuarantineFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"metric":"hot_temp"`) || strings.Contains(string(raw), `"payload"`) {
		t.Fatalf("quarantine is not readable JSON:\n%s", raw)
	}
	out, errOut := spoolCmd(t, "quarantine", "list", "--spool", dir)
	if !strings.Contains(out, "bad value for the property") || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "2 entries, 4 readings") {
		t.Fatalf("list:\n%s%s", out, errOut)
	}
	if _, errOut := spoolCmd(t, "quarantine", "list", "--spool", dir, "--publisher", "b"); !strings.Contains(errOut, "0 entries") {
		t.Fatalf("list --publisher b: %s", errOut)
	}
	if _, errOut := spoolCmd(t, "quarantine", "list", "--spool", dir, "--since", time.Now().Add(time.Hour).Format(time.RFC3339)); !strings.Contains(errOut, "0 entries") {
		t.Fatalf("list --since in the future: %s", errOut)
	}
	if out, _ := spoolCmd(t, "quarantine", "list", "--json", "--spool", dir, "--since", "1h"); strings.Count(out, `"publisher":"a"`) != 2 {
		t.Fatalf("list --json:\n%s", out)
	}

	a.fixed.Store(true)
	out, _ = spoolCmd(t, "quarantine", "requeue", "--spool", dir, "--publisher", "a")
	if !strings.Contains(out, "requeued 2 entries for a") || !strings.Contains(out, "running agent") {
		t.Fatalf("requeue:\n%s", out)
	}
	pollUntil(t, "requeued readings delivered to a", func() bool { return len(a.seqs()) == 8 })
	got := a.seqs()
	slices.Sort(got)
	if !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("a has %v", got)
	}
	pollUntil(t, "requeue file removed", func() bool {
		files, _ := spool.RequeueFiles(dir, "a")
		return len(files) == 0
	})
	if n := len(b.seqs()); n != 8 {
		t.Fatalf("b got %d readings, want its 8 only: requeue must not duplicate to other publishers", n)
	}
	if st := runners[0].Stats(); st.Requeued != 4 {
		t.Fatalf("runner a requeued %d readings, want 4", st.Requeued)
	}
	if _, errOut := spoolCmd(t, "quarantine", "list", "--spool", dir); !strings.Contains(errOut, "0 entries") {
		t.Fatalf("quarantine not emptied: %s", errOut)
	}
}

func TestSpoolHelp(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"spool", "--help"}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out})
	if err == nil || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "requeue --publisher sitewise") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

// TestSpoolRequeueWhileStopped: requeued with the agent stopped (the
// directory lock free), the entries wait in requeue/ and are delivered
// first thing when the publisher's runner starts.
func TestSpoolRequeueWhileStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(dir, spool.Opts{SyncInterval: -1, Cursors: []string{"a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := []pipeline.Reading{{Seq: 7, Metric: "rpm", Unit: "rpm", Time: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Value: 1500, Count: 1}}
	js, err := publish.ReadingsJSON(rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Quarantine(spool.QuarantineEntry{Publisher: "a", Seq: 3, Reason: "bad value", Readings: js}); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	out, _ := spoolCmd(t, "quarantine", "requeue", "--spool", dir)
	if !strings.Contains(out, "requeued 1 entries for a") || !strings.Contains(out, "when the agent next starts") {
		t.Fatalf("requeue:\n%s", out)
	}
	sp, err = spool.Open(dir, spool.Opts{SyncInterval: -1, Cursors: []string{"a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &recorder{name: "a"}
	cur, err := sp.Cursor("a")
	if err != nil {
		t.Fatal(err)
	}
	r := publish.NewRunner(a, cur, sp, &publish.RunnerOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; sp.Close() })
	pollUntil(t, "requeued reading delivered at start", func() bool { return slices.Equal(a.seqs(), []uint64{7}) })
}
