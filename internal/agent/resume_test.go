package agent

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
)

func TestResumeTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		newest, want time.Time
		window       time.Duration
	}{
		{"empty spool: now", time.Time{}, now, 0},
		{"newest long past: now", now.Add(-time.Hour), now, 0},
		{"newest just past: now", now.Add(-time.Second), now, 0},
		{"newest ahead (accelerated run): just after it", now.Add(time.Hour), now.Add(time.Hour + time.Second), 0},
		{"newest within a second before now: just after it", now.Add(-300 * time.Millisecond), now.Add(700 * time.Millisecond), 0},
		{"5 s windows: after the newest window's end", now.Add(time.Hour), now.Add(time.Hour + 5*time.Second), 5 * time.Second},
		{"sub-second windows: still a second after", now.Add(time.Hour), now.Add(time.Hour + time.Second), 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resumeTime(tc.newest, now, tc.window)
			if !got.Equal(tc.want) {
				t.Errorf("resumeTime(%v, %v, %v) = %v, want %v", tc.newest, now, tc.window, got, tc.want)
			}
			if !tc.newest.IsZero() && !got.After(tc.newest) {
				t.Errorf("resumeTime %v is not after the newest spooled reading %v: sensor time would step back", got, tc.newest)
			}
		})
	}
}

// TestResumePoint: an empty spool announces nothing; a spooled batch gives
// its last seq and its newest reading time; an unreadable newest record
// restarts numbering but is still announced.
func TestResumePoint(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	open := func(t *testing.T, dir string) *spool.Spool {
		t.Helper()
		o := spool.DefaultOpts()
		o.Cursors = []string{"c"}
		sp, err := spool.Open(dir, o, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close() })
		return sp
	}
	t.Run("empty", func(t *testing.T) {
		if rp := resumePoint(open(t, filepath.Join(t.TempDir(), "s")), log); rp != nil {
			t.Errorf("empty spool: resume point %+v, want nil", rp)
		}
	})
	t.Run("batch", func(t *testing.T) {
		sp := open(t, filepath.Join(t.TempDir(), "s"))
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		b := pipeline.Batch{Readings: []pipeline.Reading{
			{Seq: 41, Metric: "rpm", Time: t0.Add(2 * time.Second), Count: 1},
			{Seq: 42, Metric: "hot_cylinder_c", Time: t0.Add(time.Second), Count: 1},
		}}
		p, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Append(p); err != nil {
			t.Fatal(err)
		}
		rp := resumePoint(sp, log)
		if rp == nil || rp.PreviousSeq != 42 || !rp.PreviousTime.Equal(t0.Add(2*time.Second)) {
			t.Errorf("resume point %+v, want seq 42 at %v", rp, t0.Add(2*time.Second))
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		sp := open(t, filepath.Join(t.TempDir(), "s"))
		if _, err := sp.Append([]byte{0xff, 1, 2}); err != nil {
			t.Fatal(err)
		}
		rp := resumePoint(sp, log)
		if rp == nil || rp.PreviousSeq != 0 || !rp.PreviousTime.IsZero() {
			t.Errorf("unreadable newest record: resume point %+v, want an announced restart with nothing known", rp)
		}
	})
}
