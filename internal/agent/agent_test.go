package agent

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/configs"
)

// TestRunOnTheSimulator runs the agent in process on the simulated engine
// until readings are spooled, cancels it, and checks the clean shutdown:
// Run returns nil, the camera's counters were folded into the totals when
// it closed, and the spool holds what the writer appended.
func TestRunOnTheSimulator(t *testing.T) {
	dir := t.TempDir()
	cfg, err := configs.Load(configs.EmbeddedPrefix + "sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spool.Dir = filepath.Join(dir, "spool")
	cfg.HTTP.Listen = "" // no status page
	cfg.Sensors.Sim.Speedup = 20
	c2, err := configs.Parse("t.yaml", []byte("publishers:\n  - type: stdout\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Publishers = c2.Publishers

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, cfg, &Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	deadline := time.Now().Add(30 * time.Second)
	for a.Snapshot().LastSpooled.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("nothing spooled within 30 s")
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(shutdownBudget + time.Second):
		t.Fatal("Run did not return within the shutdown budget")
	}

	cur := a.current()
	if cur.cam.Load() != nil {
		t.Error("the camera is still open after Run")
	}
	cs := cur.cameraStats()
	if cs.Subpages == 0 || cur.camOpens.Load() == 0 {
		t.Errorf("camera counters not folded: %+v, opens %d", cs, cur.camOpens.Load())
	}
	ws := cur.writer.Stats()
	if ws.Batches == 0 || ws.Readings == 0 || ws.Errors != 0 || ws.LastSeq != ws.Readings {
		t.Errorf("writer stats %+v", ws)
	}
	if ps := cur.pipe.Stats(); ps.Frames == 0 || ps.Batches < ws.Batches {
		t.Errorf("pipeline stats frames %d batches %d (writer appended %d)", ps.Frames, ps.Batches, ws.Batches)
	}
	// A second agent on the same spool numbers on from the last reading.
	cfg2 := *cfg
	b, err := New(context.Background(), &cfg2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.current().sp.Close()
	if rp := resumePoint(b.current().sp, slog.New(slog.DiscardHandler)); rp == nil || rp.PreviousSeq != ws.LastSeq {
		t.Errorf("resume point %+v, want the last spooled reading %d", rp, ws.LastSeq)
	}
}
