package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/internal/testsrv/sitewisetest"
	"github.com/stirling-iot/stirling/publish/mqtt"
)

// billSpeedup runs the simulated hour of BenchmarkBillPerEngineDay in
// about 36 s of wall time per case. The sample layout runs at
// sampleSpeedup: it sends more than one message per second of sensor time,
// and the publisher paces to IoT Core's 100 publishes per second of wall
// time, so at 100x it would fall behind and leave readings in the spool.
const (
	billSpeedup   = 100
	sampleSpeedup = 25
)

// onePerSecond is the IoT Core bill of one message per second: the
// reference the packed layout must beat tenfold.
const onePerSecond = 86_400

// BenchmarkBillPerEngineDay: billable cloud units per engine-day, for every
// MQTT layout and for the SiteWise publisher.
//
// Each case runs `stirling run` on the simulated engine (scenario steady at
// 2,200 RPM, window 1 s, the shipped batch.max_latency 1 s) for an hour of
// sensor time at speedup 100 (25 for the sample layout; --stop-after 1h),
// then multiplies by 24.
// The record_per_window cases set batch.max_latency to 10 ms, so that
// every closed window is a record of its own (what issue 10 §1 makes the
// default).
//
// The spool syncs on the wall clock and a cursor delivers only synced
// records, so sync_interval is 1 s / speedup, the shipped 1 s of sensor
// time (10 ms at speedup 100; at 1 s the publisher would see a burst of
// 100 s of readings every wall second and merge it as a backlog).
//
//   - MQTT: a real mosquitto over mutual TLS; a subscriber on the
//     publisher's topic counts every message and its IoT Core units,
//     ceil((payload + topic) / 5 KB) (mqtt.Units).
//   - SiteWise: sitewisetest's BatchPutAssetPropertyValue endpoint on a
//     clock scaled like the agent's, metering per request and per data
//     stream max(ceil(points / 10), ceil(bytes / 1 KB)) (see
//     sitewisetest.Billing and docs/sitewise.md).
//
// Reported: units/engine_day, messages (or requests)/engine_day,
// readings/engine_day, the readings per unit, the reduction against one
// message per second (x_vs_1msg_per_s), and for SiteWise the units per 10
// data points.
func BenchmarkBillPerEngineDay(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "stirling")
	if _, err := agenttest.Build(bin); err != nil {
		b.Fatal(err)
	}
	rois, err := filepath.Abs(filepath.Join("..", "..", "configs", "rois.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	broker := mosquittotest.Start(b, nil)
	c := broker.Certs
	for _, tc := range []struct {
		name, layout string
		hold         time.Duration
		speedup      int
		perWindow    bool
	}{
		{"mqtt/sample", "sample", 0, sampleSpeedup, false},
		{"mqtt/batch", "batch", 0, billSpeedup, false},
		{"mqtt/batch/max_latency=10s", "batch", 10 * time.Second, billSpeedup, false},
		{"mqtt/packed", "packed", 0, billSpeedup, false},
		{"mqtt/packed/max_latency=9s", "packed", 9 * time.Second, billSpeedup, false},
		{"mqtt/packed/max_latency=10s", "packed", 10 * time.Second, billSpeedup, false},
		{"mqtt/packed/max_latency=10s/record_per_window", "packed", 10 * time.Second, billSpeedup, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				topic := fmt.Sprintf("dt/stirling/bench-bill/%s", tc.layout)
				sub := broker.Subscribe(b, topic)
				pub := fmt.Sprintf(`  - type: mqtt
    endpoint: %q
    topic: %q
    layout: %s
    max_latency: %s
    cert_file: %q
    key_file: %q
    ca_file: %q
`, broker.Addr, topic, tc.layout, tc.hold, c.ClientCert, c.ClientKey, c.CAFile)
				runBillAgent(b, bin, rois, pub, tc.speedup, tc.perWindow, nil)
				// The last messages may still be on their way.
				time.Sleep(500 * time.Millisecond)
				var units, bytes, readings int
				msgs := sub.Messages()
				for _, m := range msgs {
					units += mqtt.Units(m.Topic, len(m.Payload))
					bytes += len(m.Payload)
					readings += countReadings(b, tc.layout, m.Payload)
				}
				if len(msgs) == 0 {
					b.Fatal("no message arrived")
				}
				b.Logf("%d messages; the 100th: %d bytes: %.300s", len(msgs), len(msgs[min(100, len(msgs)-1)].Payload), msgs[min(100, len(msgs)-1)].Payload)
				reportBill(b, units, len(msgs), readings)
				b.ReportMetric(float64(onePerSecond)/float64(units*24), "x_vs_1msg_per_s")
				b.ReportMetric(float64(bytes)/float64(len(msgs)), "bytes/msg")
			}
		})
	}
	for _, tc := range []struct {
		hold      time.Duration
		perWindow bool
	}{{0, false}, {10 * time.Second, false}, {20 * time.Second, false}, {20 * time.Second, true}} {
		hold := tc.hold
		name := fmt.Sprintf("sitewise/max_latency=%s", hold)
		if tc.perWindow {
			name += "/record_per_window"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				srv := sitewisetest.New(b)
				var mu sync.Mutex
				var start time.Time
				srv.Now = func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					if start.IsZero() {
						return time.Now()
					}
					return start.Add(time.Since(start) * billSpeedup)
				}
				pub := fmt.Sprintf(`  - type: sitewise
    region: eu-west-1
    endpoint: %q
    max_latency: %s
`, srv.URL, hold)
				runBillAgent(b, bin, rois, pub, billSpeedup, tc.perWindow, func() { mu.Lock(); start = time.Now(); mu.Unlock() },
					"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=SECRET", "AWS_REGION=eu-west-1")
				bill := srv.Billing()
				if bill.Points == 0 {
					b.Fatalf("no value stored; violations %v", srv.Violations())
				}
				if v := srv.Violations(); len(v) > 0 {
					b.Errorf("%d wire violations, first: %s", len(v), v[0])
				}
				reportBill(b, bill.Units, bill.Requests, bill.Points)
				b.Logf("%+v", bill)
				b.ReportMetric(float64(bill.Units)/(float64(bill.Points)/10), "units/10_points")
			}
		})
	}
}

func reportBill(b *testing.B, units, msgs, readings int) {
	b.ReportMetric(float64(units*24), "units/engine_day")
	b.ReportMetric(float64(msgs*24), "msgs/engine_day")
	b.ReportMetric(float64(readings*24), "readings/engine_day")
	b.ReportMetric(float64(readings)/float64(units), "readings/unit")
}

// runBillAgent runs the agent with one publisher for an hour of sensor
// time; started, if set, is called when the process has started.
func runBillAgent(b *testing.B, bin, rois, publisher string, speedup int, perWindow bool, started func(), env ...string) {
	b.Helper()
	dir := b.TempDir()
	batchLatency := time.Second
	if perWindow {
		batchLatency = 10 * time.Millisecond
	}
	cfg := fmt.Sprintf(`device:
  thing_name: bench-bill
sensors:
  bus: sim
  sim:
    scenario: steady
    steady_rpm: 2200
    seed: 1
    speedup: %d
rois_file: %q
pipeline:
  window: 1s
  batch:
    max_latency: %s
spool:
  dir: %q
  max_bytes: 64MiB
  sync_interval: %s
publishers:
%s`, speedup, rois, batchLatency, filepath.Join(dir, "spool"), time.Second/time.Duration(speedup), publisher)
	cfgFile := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", mosquittotest.FreePort(b))
	a := agenttest.Start(b, bin, cfgFile, &agenttest.Opts{Args: []string{"--http", addr, "--stop-after", simHour.String()}, Addr: addr, Env: env})
	if started != nil {
		started()
	}
	select {
	case <-a.Done():
	case <-time.After(10 * time.Minute):
		_ = a.Cmd.Process.Kill()
		<-a.Done()
		b.Fatalf("agent still running after 10 min")
	}
	if err := a.Err(); err != nil {
		b.Fatalf("stirling run: %v\n%s", err, agenttest.Tail(a.Stderr.String(), 4000))
	}
}
