package spool

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRandomDamage flips random bytes (and sometimes cuts the newest
// segment) and checks that the spool opens, never delivers a damaged or
// out-of-order record, and delivers every record it did not have to skip.
func TestRandomDamage(t *testing.T) {
	for round := range 20 {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		dir := t.TempDir()
		opts := Opts{SegmentBytes: 8 << 10, SyncInterval: -1}
		s := mustOpen(t, dir, opts)
		const n = 200
		for i := uint64(1); i <= n; i++ {
			if _, err := s.Append(payloadFor(i, 10+rng.IntN(300))); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		ents, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
		flips := 1 + rng.IntN(8)
		for range flips {
			p := ents[rng.IntN(len(ents))]
			b, _ := os.ReadFile(p)
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			os.WriteFile(p, b, 0o640)
		}
		cut := rng.IntN(2) == 0
		if cut {
			p := ents[len(ents)-1]
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-int64(rng.IntN(int(st.Size()-headerSize))))
		}

		s, err := Open(dir, opts, nil)
		if err != nil {
			t.Fatalf("round %d: open after damage: %v", round, err)
		}
		c, _ := s.Cursor("c")
		var got []uint64
		for {
			if len(got) > 0 && got[len(got)-1] == s.Stats().NextSeq-1 {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			r, err := c.Next(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: Next: %v", round, err)
			}
			if !bytes.Equal(r.Payload, payloadFor(r.Seq, len(r.Payload))) {
				t.Fatalf("round %d: damaged record %d delivered", round, r.Seq)
			}
			if len(got) > 0 && r.Seq <= got[len(got)-1] {
				t.Fatalf("round %d: seq %d after %d", round, r.Seq, got[len(got)-1])
			}
			got = append(got, r.Seq)
		}
		st := s.Stats()
		// Each flipped byte costs at most the one record it hit.
		if !cut && len(got) < n-flips {
			t.Fatalf("round %d: %d of %d records after %d flips (corrupt %d)", round, len(got), n, flips, st.CorruptSkipped)
		}
		// The spool still works: a new append gets the next seq and is delivered.
		seq, err := s.Append(payloadFor(st.NextSeq, 50))
		if err != nil || seq != st.NextSeq {
			t.Fatalf("round %d: append after damage: %d %v", round, seq, err)
		}
		if r := readAll(t, c, seq); r[len(r)-1].Seq != seq {
			t.Fatalf("round %d: new record not delivered", round)
		}
		s.Close()
	}
}
