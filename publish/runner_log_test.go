package publish

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(ln, substr) {
			out = append(out, ln)
		}
	}
	return out
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestRunnerLogsStateChangesOnce: a publisher that fails for ten minutes of
// (fake) time logs that it is failing once, then about one reminder a
// minute with the attempt count and the last cause, and one line when it
// recovers. The old runner reset the state at every attempt and logged
// "publisher failing" on every retry after the fifth.
func TestRunnerLogsStateChangesOnce(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1, 1)
	clk := newFakeClock()
	var recovered sync.WaitGroup
	recovered.Add(1)
	const failures = 400 // 400 attempts at a 1.5 s cap: about ten minutes
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		if n < failures {
			return errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
		}
		return acceptAll(n, b, res)
	})
	var logs logBuf
	opts := RunnerOpts{Initial: 100 * time.Millisecond, Max: 1500 * time.Millisecond, FailingAfter: 5, MergeReadings: 1, Clock: clk}
	opts.Logger = logs.logger()
	r := NewRunner(p, f.cur, f.sp, &opts)
	stop := run(t, r)
	defer stop()
	start := clk.Now()
	for range failures {
		waitCalls(t, p, 1)
		clk.Advance(clk.wait(t))
	}
	waitCalls(t, p, 1)
	waitAcked(t, f.cur, 1)
	elapsed := clk.Now().Sub(start)
	failing := logs.lines("publisher failing")
	reminders := logs.lines("publisher still failing")
	retrying := logs.lines("delivery failed; retrying")
	resumed := logs.lines("delivery resumed")
	t.Logf("%d attempts over %v: %d 'failing', %d reminders, %d 'retrying', %d 'resumed' lines",
		failures, elapsed.Round(time.Second), len(failing), len(reminders), len(retrying), len(resumed))
	if len(failing) != 1 {
		t.Errorf("%d 'publisher failing' lines, want 1 (a state change is logged once)", len(failing))
	}
	if len(retrying) > 1 {
		t.Errorf("%d 'delivery failed; retrying' lines at info or above, want at most 1", len(retrying))
	}
	maxReminders := int(elapsed/time.Minute) + 1
	if len(reminders) < int(elapsed/time.Minute)-1 || len(reminders) > maxReminders {
		t.Errorf("%d reminders over %v, want about one a minute", len(reminders), elapsed)
	}
	for _, ln := range reminders {
		if !strings.Contains(ln, "attempts=") || !strings.Contains(ln, "connection refused") {
			t.Errorf("reminder without attempt count or cause: %s", ln)
		}
	}
	if len(resumed) != 1 {
		t.Errorf("%d 'delivery resumed' lines, want 1", len(resumed))
	}
	total := len(failing) + len(reminders) + len(retrying) + len(resumed)
	if perMin := float64(total) / elapsed.Minutes(); perMin > 2 {
		t.Errorf("%.1f log lines a minute while failing, want at most about 1", perMin)
	}
}

// TestRunnerUnauthorized: an error wrapping ErrUnauthorized turns the
// state to failing at the first attempt, shows as "failing: unauthorized",
// backs off up to AuthMax instead of Max, and quarantines nothing.
func TestRunnerUnauthorized(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1, 2)
	clk := newFakeClock()
	p := newFakePub(func(n int, b *pipeline.Batch, res []Result) error {
		if n < 12 {
			return fmt.Errorf("CONNACK 5 (%w): not Authorized", ErrUnauthorized)
		}
		return acceptAll(n, b, res)
	})
	r := NewRunner(p, f.cur, f.sp, &RunnerOpts{Initial: 100 * time.Millisecond, Max: time.Second, AuthMax: 10 * time.Second, Clock: clk})
	stop := run(t, r)
	defer stop()
	var last time.Duration
	for i := range 12 {
		waitCalls(t, p, 1)
		d := clk.wait(t)
		st := r.Stats()
		if st.State != StateFailing || st.StateText() != "failing: unauthorized" || !strings.HasPrefix(st.Reason, "unauthorized: CONNACK 5") || st.LastError != "CONNACK 5 (unauthorized): not Authorized" {
			t.Fatalf("attempt %d: state %q (%s) reason %q last_error %q", i+1, st.State, st.StateText(), st.Reason, st.LastError)
		}
		if d > 10*time.Second {
			t.Fatalf("wait %v over AuthMax", d)
		}
		last = d
		clk.Advance(d)
	}
	if last < 8*time.Second {
		t.Errorf("backoff reached only %v after 12 unauthorized attempts, want near AuthMax 10 s", last)
	}
	waitCalls(t, p, 1)
	waitAcked(t, f.cur, 1)
	if st := r.Stats(); st.Rejected != 0 || st.State != StateIdle || st.StateText() != "idle" {
		t.Fatalf("after recovery: %+v", st)
	}
}
