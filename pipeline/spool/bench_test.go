package spool

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSpoolAppend appends 500-byte records (a one-second window of ten
// readings) with the default group commit and with an fsync per append.
func BenchmarkSpoolAppend(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync time.Duration
	}{{"sync=1s", time.Second}, {"sync=every", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			s := mustOpen(b, b.TempDir(), Opts{SyncInterval: tc.sync, MaxBytes: 1 << 30})
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.Run(ctx)
			payload := payloadFor(0, 500)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			start := time.Now()
			syncs := s.Stats().Syncs
			for b.Loop() {
				if _, err := s.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start).Seconds()
			st := s.Stats()
			b.ReportMetric(float64(st.Syncs-syncs)/el, "syncs/s")
			b.ReportMetric(float64(st.BytesWritten)/float64(st.BytesAppended), "write-amp")
		})
	}
}

// BenchmarkSpoolReplay reads a 20,000-record backlog through a new cursor
// per iteration.
func BenchmarkSpoolReplay(b *testing.B) {
	const n = 20000
	s := mustOpen(b, b.TempDir(), Opts{SyncInterval: time.Hour, MaxBytes: 1 << 30})
	defer s.Close()
	payload := payloadFor(0, 500)
	for range n {
		if _, err := s.Append(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * int64(len(payload)))
	b.ReportAllocs()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		c, err := s.Cursor(fmt.Sprintf("r%d", i))
		if err != nil {
			b.Fatal(err)
		}
		i++
		for range n {
			if _, err := c.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReplay24h builds an 86,400-record backlog (a day of one-second
// windows) and replays it in a child process that reports its peak RSS.
func BenchmarkReplay24h(b *testing.B) {
	dir := b.TempDir()
	_, size := build24h(b, dir)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var res replayResult
	for b.Loop() {
		res = runReplayChild(b, dir)
	}
	b.ReportMetric(float64(res.Records)/res.Seconds, "records/s")
	b.ReportMetric(float64(res.VmHWM)/1e6, "peak-RSS-MB")
	b.ReportMetric(float64(res.PeakHeap)/1e6, "peak-heap-MB")
}
