package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// restartSeen is one restart as a subscriber sees it.
type restartSeen struct {
	ann *announcement
	seq uint64 // first reading of the message that announced it
	// lastBefore is the newest sensor time (ms) among the readings up to
	// previous_seq; firstAfter the oldest among the next 50 readings.
	lastBefore, firstAfter int64
}

// gap is the jump in sensor time across the restart.
func (r restartSeen) gap() time.Duration {
	return time.Duration(r.firstAfter-r.lastBefore) * time.Millisecond
}

func (r restartSeen) String() string {
	return fmt.Sprintf("restart at seq %d (%v): sensor time %d -> %d, gap %v", r.seq, r.ann, r.lastBefore, r.firstAfter, r.gap())
}

// restarts finds the announced restarts in recs (each once, however many
// copies of its message arrived).
func restarts(recs []rec) []restartSeen {
	var out []restartSeen
	seen := map[uint64]bool{}
	for _, r := range recs {
		if r.restart == nil || seen[r.seq] {
			continue
		}
		seen[r.seq] = true
		rs := restartSeen{ann: r.restart, seq: r.seq, lastBefore: -1, firstAfter: -1}
		if p := r.restart.PreviousSeq; p != nil {
			for _, x := range recs {
				switch {
				case x.seq <= *p:
					rs.lastBefore = max(rs.lastBefore, x.ts)
				case x.seq <= *p+50 && (rs.firstAfter < 0 || x.ts < rs.firstAfter):
					rs.firstAfter = x.ts
				}
			}
		}
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b restartSeen) int { return int(a.seq) - int(b.seq) })
	return out
}

// checkRestarts asserts that want restarts were announced, each on the
// reading right after previous_seq (seq never goes back), with the newest
// sensor time the previous process made durable.
func checkRestarts(t *testing.T, recs []rec, want int) []restartSeen {
	t.Helper()
	rs := restarts(recs)
	if len(rs) != want {
		t.Errorf("%d restarts announced %v, want %d", len(rs), rs, want)
	}
	for _, r := range rs {
		a := r.ann
		switch {
		case a.PreviousSeq == nil || a.PreviousTS == nil:
			t.Errorf("%v: incomplete announcement", r)
		case r.seq != *a.PreviousSeq+1:
			t.Errorf("%v: announced at seq %d, want previous_seq+1 (seq never goes back, no gap)", r, r.seq)
		case *a.PreviousTS != r.lastBefore:
			t.Errorf("%v: previous_ts %d, want the newest sensor time up to previous_seq, %d", r, *a.PreviousTS, r.lastBefore)
		case r.firstAfter <= r.lastBefore:
			t.Errorf("%v: sensor time did not move on across the restart (a window stamped twice, or back)", r)
		}
	}
	return rs
}

// TestRestarts checks the bookkeeping on a hand-made stream.
func TestRestarts(t *testing.T) {
	p, ts := uint64(3), int64(2000)
	recs := []rec{
		{seq: 1, ts: 1000}, {seq: 2, ts: 2000}, {seq: 3, ts: 1500},
		{seq: 4, ts: 9000, restart: &announcement{PreviousSeq: &p, PreviousTS: &ts}}, {seq: 5, ts: 9000},
		{seq: 4, ts: 9000, restart: &announcement{PreviousSeq: &p, PreviousTS: &ts}}, // duplicate message
	}
	rs := checkRestarts(t, recs, 1)
	if len(rs) == 1 && (rs[0].lastBefore != 2000 || rs[0].firstAfter != 9000 || rs[0].gap() != 7*time.Second) {
		t.Errorf("restarts = %v", rs)
	}
}
