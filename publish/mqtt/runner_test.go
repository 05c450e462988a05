package mqtt

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
)

// TestRunnerOutage drives the publisher the way the agent does: a producer
// appends batches to a real spool, publish.Runner delivers them through this
// publisher and a TCP proxy to mosquitto, and the proxy drops the network
// for a second in the middle. Every reading must arrive, in order, and the
// first message after the network is back must arrive within the 1 s
// connection backoff cap (plus a margin).
func TestRunnerOutage(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	px := mosquittotest.NewProxy(t, b.Addr)
	// The default reconnect interval, as in production.
	p := newTestPublisher(t, b, px.Addr, func(o *Opts) { o.ReconnectInterval = 0 })
	sub := b.Subscribe(t, p.Topic())
	waitReady(t, p, 5*time.Second)

	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool"), spool.Opts{SyncInterval: -1, Cursors: []string{p.Name()}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	cur, err := sp.Cursor(p.Name())
	if err != nil {
		t.Fatal(err)
	}
	r := publish.NewRunner(p, cur, sp, &publish.RunnerOpts{Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sp.Run(ctx) }()
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// Producer: 4 readings every 5 ms for 3 s, seqs contiguous from 1.
	var seq uint64 = 1
	t0 := time.UnixMilli(1_700_000_000_000)
	produce := func(n int) {
		for i := 0; i < n; i++ {
			bt := engineBatch(0, seq, 1, t0.Add(time.Duration(seq)*time.Millisecond))
			seq += uint64(len(bt.Readings))
			payload, err := bt.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sp.Append(payload); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	produce(200)
	px.Down()
	downAt := time.Now()
	produce(200)
	upAt := px.Up()
	produce(200)
	total := int(seq - 1)

	deadline := time.Now().Add(20 * time.Second)
	for r.Stats().LagRecords != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("runner lag not drained: %+v", r.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	msgs := sub.WaitFor(t, 10*time.Second, func(m []mosquittotest.Message) bool {
		return len(dedup(received(t, Batch, m))) >= total
	})
	got := received(t, Batch, msgs)
	uniq := dedup(got)
	if len(uniq) != total || uniq[len(uniq)-1] != uint64(total) {
		t.Fatalf("%d distinct readings (max %d), want %d", len(uniq), uniq[len(uniq)-1], total)
	}
	inversions := 0
	seen := map[uint64]bool{}
	var maxSeen uint64
	for _, s := range got {
		if seen[s] {
			continue
		}
		seen[s] = true
		if s < maxSeen {
			inversions++
		}
		maxSeen = max(maxSeen, s)
	}
	var firstAfter time.Duration = -1
	for _, m := range msgs {
		if m.At.After(upAt) {
			firstAfter = m.At.Sub(upAt)
			break
		}
	}
	st := r.Stats()
	t.Logf("readings %d, delivered %d (duplicates %d), arrival inversions %d, outage %v, first message %v after the network came back, publisher %+v, runner delivered %d retried %d",
		total, len(got), len(got)-len(uniq), inversions, upAt.Sub(downAt).Round(time.Millisecond), firstAfter, p.Stats(), st.Delivered, st.Retried)
	if inversions != 0 {
		t.Errorf("%d readings arrived out of order", inversions)
	}
	// Within the connection backoff cap (MaxReconnectInterval, 1 s) plus a
	// margin for the TLS handshake on a loaded machine.
	if firstAfter < 0 || firstAfter > 1500*time.Millisecond {
		t.Errorf("first message %v after the network came back, want within the 1 s backoff cap (+0.5 s)", firstAfter)
	}
	if dups := len(got) - len(uniq); dups > MaxInFlight*4 {
		t.Errorf("%d duplicate readings, more than one in-flight window", dups)
	}
	if st.Rejected != 0 || st.Delivered != uint64(total) {
		t.Errorf("runner stats %+v, want %d delivered, none rejected", st, total)
	}
}
