package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
	"github.com/stirling-iot/stirling/publish/mqtt"
)

const day = 24 * 60 * 60 // seconds

// envSliceHours overrides how many hours of backlog the rate-limited cases
// drain (default: 24 with the batch layout, 1 with the sample layout,
// extrapolated to 24).
const envSliceHours = "STIRLING_BENCH_DRAIN_HOURS"

// BenchmarkDrain24h: time to drain a 24-hour backlog at 1 Hz.
//
// A spool holds 86,400 one-second batches of the pipeline's metrics (about
// 1.66 million readings, 100 MB on disk), built once through pipeline.SpoolWriter.
// Each iteration drains a fresh copy with a publish.Runner and the MQTT
// publisher into a real mosquitto over mutual TLS, until the cursor's depth
// is 0, while a subscriber checks that every reading Seq arrived.
//
// rate=iotcore is the agent as shipped: the publisher paces itself to IoT
// Core's 100 publishes per second per connection. The runner merges waiting
// records into Sends of up to 1000 readings; the batch layout packs them
// into messages of up to 128 KB, so a day drains in about half a minute,
// but the sample layout still sends one message per second of data, so a
// day takes 864 s. The sample case therefore drains one hour by default
// (STIRLING_BENCH_DRAIN_HOURS to change) and reports
// drain_24h_extrapolated_s. rate=unlimited lifts the pacing (MaxRate -1, as
// for a broker without that quota) and drains the whole day: what the agent
// itself can do on this machine.
func BenchmarkDrain24h(b *testing.B) {
	broker := mosquittotest.Start(b, nil)
	sliceHours := map[mqtt.Layout]int{mqtt.Batch: 24, mqtt.Sample: 1}
	if v := os.Getenv(envSliceHours); v != "" {
		h, err := strconv.Atoi(v)
		if err != nil || h < 1 || h > 24 {
			b.Fatalf("%s=%q: want hours from 1 to 24", envSliceHours, v)
		}
		sliceHours = map[mqtt.Layout]int{mqtt.Batch: h, mqtt.Sample: h}
	}
	// Backlogs are built once per length and copied for every iteration.
	var mu sync.Mutex
	built := map[int]backlog{}
	parent := b
	source := func(b *testing.B, seconds int) backlog {
		mu.Lock()
		defer mu.Unlock()
		if bl, ok := built[seconds]; ok {
			return bl
		}
		t0 := time.Now()
		// Under the parent's TempDir: it outlives the sub-benchmark, so
		// the other layout reuses it.
		bl := buildBacklog(b, parent.TempDir(), seconds)
		b.Logf("backlog: %d records, %d readings, %.1f MB on disk, built in %v", bl.Records, bl.Readings, float64(bl.Bytes)/1e6, time.Since(t0).Round(time.Millisecond))
		built[seconds] = bl
		return bl
	}
	for _, layout := range []mqtt.Layout{mqtt.Batch, mqtt.Sample} {
		for _, rate := range []struct {
			name    string
			maxRate int
			seconds int
		}{
			{"iotcore", mqtt.DefaultMaxRate, sliceHours[layout] * 3600},
			{"unlimited", -1, day},
		} {
			b.Run(fmt.Sprintf("layout=%s/rate=%s", layout, rate.name), func(b *testing.B) {
				src := source(b, rate.seconds)
				b.ReportAllocs()
				var total time.Duration
				var msgs, readings uint64
				n := 0
				for b.Loop() {
					d, c := drainOnce(b, broker, src, layout, rate.maxRate)
					total += d
					msgs += c.Msgs
					readings += c.Readings
					n++
				}
				secs := total.Seconds() / float64(n)
				b.ReportMetric(secs, "drain_s")
				b.ReportMetric(float64(readings)/total.Seconds(), "readings/s")
				b.ReportMetric(float64(msgs)/total.Seconds(), "msgs/s")
				b.ReportMetric(float64(rate.seconds)/3600, "backlog_h")
				if rate.seconds == day {
					b.ReportMetric(secs, "drain_24h_s")
				} else {
					b.ReportMetric(secs*day/float64(rate.seconds), "drain_24h_extrapolated_s")
				}
			})
		}
	}
}

// drainOnce drains a copy of src into broker and returns the time from the
// runner's start until the cursor's depth was 0, and what the subscriber
// received. Only the drain itself is timed.
func drainOnce(b *testing.B, broker *mosquittotest.Broker, src backlog, layout mqtt.Layout, maxRate int) (time.Duration, subCounts) {
	b.Helper()
	b.StopTimer()
	bl := copyBacklog(b, src, b.TempDir())
	const name = "mqtt"
	sp, err := spool.Open(bl.Dir, spool.Opts{MaxBytes: spoolMaxBytes, Cursors: []string{name}}, nil)
	if err != nil {
		b.Fatalf("open spool: %v", err)
	}
	defer sp.Close()
	cur, err := sp.Cursor(name)
	if err != nil {
		b.Fatalf("cursor: %v", err)
	}
	if d := cur.Stats().Depth; d != bl.Records {
		b.Fatalf("cursor depth %d before the drain, want %d", d, bl.Records)
	}
	pub, err := mqtt.New(&mqtt.Opts{
		Name: name, Endpoint: broker.Addr, Thing: "bench", ClientID: fmt.Sprintf("bench-pub-%d", time.Now().UnixNano()),
		Layout: layout, MaxRate: maxRate,
		CertFile: broker.Certs.ClientCert, KeyFile: broker.Certs.ClientKey, CAFile: broker.Certs.CAFile,
	})
	if err != nil {
		b.Fatalf("mqtt publisher: %v", err)
	}
	defer pub.Close()
	sub := subscribeSeqs(b, broker, pub.Topic(), bl.Readings, layout == mqtt.Sample)
	deadline := time.Now().Add(10 * time.Second)
	for !pub.Connected() {
		if time.Now().After(deadline) {
			b.Fatalf("publisher did not connect: %s", pub.Stats().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ro := publish.DefaultRunnerOpts()
	runner := publish.NewRunner(pub, cur, sp, &ro)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- sp.Run(ctx) })
	wg.Go(func() { errs <- runner.Run(ctx) })

	b.StartTimer()
	start := time.Now()
	limit := start.Add(30 * time.Minute)
	for cur.Stats().Depth != 0 {
		if time.Now().After(limit) {
			b.Fatalf("drain: depth %d after 30 min (runner %+v)", cur.Stats().Depth, runner.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()

	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Errorf("drain: %v", err)
		}
	}
	rs := runner.Stats()
	if rs.Delivered != bl.Readings || rs.Rejected != 0 {
		b.Errorf("runner: delivered %d readings, rejected %d; want %d, 0", rs.Delivered, rs.Rejected, bl.Readings)
	}
	if cs := cur.Stats(); cs.Acked != bl.Records {
		b.Errorf("cursor acknowledged up to record %d, want %d", cs.Acked, bl.Records)
	}
	if !sub.wait(time.Minute) {
		c := sub.counts()
		b.Fatalf("subscriber: %d of %d readings arrived (%d messages, %d unparsable); first missing %v", c.Distinct, bl.Readings, c.Msgs, c.Bad, c.Missing)
	}
	c := sub.counts()
	if c.Bad != 0 {
		b.Errorf("subscriber: %d messages without readings", c.Bad)
	}
	ps := pub.Stats()
	b.Logf("drained %d records, %d readings in %v: %d messages (%d acked, %d failed, %.1f MB), subscriber %d messages, %d readings (%d duplicates), runner: %d acknowledged Sends (merged records), %d attempts, %d failures",
		bl.Records, bl.Readings, took.Round(time.Millisecond), ps.Published, ps.Acked, ps.Failed, float64(ps.Bytes)/1e6,
		c.Msgs, c.Readings, c.Readings-c.Distinct, rs.Batches, rs.Attempts, rs.Failures)
	b.StartTimer()
	return took, c
}
