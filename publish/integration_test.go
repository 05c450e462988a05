package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

// lockedBuffer is a goroutine-safe bytes.Buffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatedStdout is a stdout publisher that can be taken offline; it signals
// Ready when it comes back.
type gatedStdout struct {
	*Stdout
	offline atomic.Bool
	ready   chan struct{}
}

func (g *gatedStdout) Ready() <-chan struct{} { return g.ready }

func (g *gatedStdout) Send(ctx context.Context, b *pipeline.Batch, res []Result) error {
	if g.offline.Load() {
		return errors.New("offline")
	}
	return g.Stdout.Send(ctx, b, res)
}

// TestWriterSpoolRunnerOutage runs the real chain (writer, spool with its
// sync loop, runner, stdout publisher) through an outage: the backlog is
// delivered in order once the publisher is back, the first backlog reading
// within a second, with no gap and no duplicate.
func TestWriterSpoolRunnerOutage(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Opts{SyncInterval: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { sp.Run(ctx) })
	in := make(chan *pipeline.Batch)
	w, err := pipeline.NewSpoolWriter(sp, nil)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { w.Run(ctx, in) })
	var out lockedBuffer
	pub := &gatedStdout{Stdout: NewStdout(&out, ""), ready: make(chan struct{}, 1)}
	cur, err := sp.Cursor(pub.Name())
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(pub, cur, sp, &RunnerOpts{})
	wg.Go(func() { r.Run(ctx) })

	send := func(n int) {
		for range n {
			in <- &pipeline.Batch{Readings: []pipeline.Reading{
				{Metric: "rpm", Unit: "rpm", Time: time.Now(), Value: 800, Count: 1},
				{Metric: "flame_temp", Unit: "degC", Time: time.Now(), Value: 310, Count: 1},
			}}
			time.Sleep(time.Millisecond)
		}
	}
	send(20)
	pub.offline.Store(true)
	send(100) // the outage backlog
	time.Sleep(100 * time.Millisecond)
	if st := r.Stats(); st.State != StateBackoff && st.State != StateFailing {
		t.Fatalf("state during the outage: %q", st.State)
	}
	before := strings.Count(out.String(), "\n")
	pub.offline.Store(false)
	back := time.Now()
	pub.ready <- struct{}{}
	for strings.Count(out.String(), "\n") == before {
		if time.Since(back) > time.Second {
			t.Fatal("no backlog reading within 1 s of the publisher coming back")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("first backlog reading %v after the publisher came back", time.Since(back).Round(time.Millisecond))
	send(10)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 260 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	close(in)
	wg.Wait()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	var want uint64 = 1
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var j struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatal(err)
		}
		if j.Seq != want {
			t.Fatalf("reading seq %d, want %d (gap or duplicate)", j.Seq, want)
		}
		want++
	}
	if want != 261 {
		t.Fatalf("delivered %d readings, want 260", want-1)
	}
}
