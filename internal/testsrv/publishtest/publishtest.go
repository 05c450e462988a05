// Package publishtest drives a real publisher through publish.Runner and a
// real spool, for tests that check what the agent would do with a
// publisher's failures.
package publishtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
)

// Rig is a spool holding readings and a runner delivering them to one
// publisher.
type Rig struct {
	Dir    string
	Spool  *spool.Spool
	Cursor *spool.Cursor
	Runner *publish.Runner
}

// Start spools batches batches of n readings each (seqs from 1, one second
// apart, ending now), and runs a Runner delivering them to p until the test
// ends.
func Start(t testing.TB, p publish.Publisher, batches, n int, opts publish.RunnerOpts) *Rig {
	t.Helper()
	return StartLogged(t, p, batches, n, opts, nil)
}

// StartLogged is Start with the runner logging to log.
func StartLogged(t testing.TB, p publish.Publisher, batches, n int, opts publish.RunnerOpts, log *slog.Logger) *Rig {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(dir, spool.Opts{SyncInterval: -1, Cursors: []string{p.Name()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	var seq uint64
	for range batches {
		var b pipeline.Batch
		for range n {
			seq++
			b.Readings = append(b.Readings, pipeline.Reading{Seq: seq, Metric: "rpm", Unit: "rpm",
				Time: end.Add(-time.Duration(batches*n-int(seq)) * time.Second), Value: float64(seq), Min: float64(seq), Max: float64(seq), Last: float64(seq), Count: 1})
		}
		payload, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Append(payload); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := sp.Cursor(p.Name())
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = log
	r := publish.NewRunner(p, cur, sp, &opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sp.Run(ctx) }()
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); sp.Close() })
	return &Rig{Dir: dir, Spool: sp, Cursor: cur, Runner: r}
}

// WaitState polls the runner until ok holds for its stats, or fails the
// test after d.
func (g *Rig) WaitState(t testing.TB, d time.Duration, what string, ok func(publish.RunnerStats) bool) publish.RunnerStats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := g.Runner.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; runner %+v", what, d, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Quarantined returns the quarantine files' content (empty when there is
// none).
func (g *Rig) Quarantined(t testing.TB) string {
	t.Helper()
	var s string
	for _, name := range []string{spool.QuarantineFile + ".1", spool.QuarantineFile} {
		b, err := os.ReadFile(filepath.Join(g.Dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		s += string(b)
	}
	return s
}

// CheckKept fails the test unless nothing was quarantined or rejected and
// every record is still waiting for the publisher.
func (g *Rig) CheckKept(t testing.TB, records uint64) {
	t.Helper()
	st := g.Runner.Stats()
	if q := g.Quarantined(t); q != "" || st.Rejected != 0 {
		t.Errorf("readings quarantined (%d rejected) for an authorisation failure:\n%.400s", st.Rejected, q)
	}
	if cs := g.Cursor.Stats(); cs.Depth != records {
		t.Errorf("%d records waiting in the spool, want all %d", cs.Depth, records)
	}
	if st.Delivered != 0 {
		t.Errorf("%d readings delivered, want 0", st.Delivered)
	}
}

// String describes the stats for failure messages.
func String(st publish.RunnerStats) string {
	return fmt.Sprintf("state %q reason %q last_error %q", st.State, st.Reason, st.LastError)
}
