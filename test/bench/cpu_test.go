package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
)

// envSpeedup overrides the simulator speedup of BenchmarkCPUPerSimHour.
const envSpeedup = "STIRLING_BENCH_SPEEDUP"

// envRealtime overrides how long the real-time case runs (default 1m; at
// least 30s, since the first 10 s are left out).
const envRealtime = "STIRLING_BENCH_REALTIME"

// envCPUProfile names a directory: each run writes its agent's CPU profile
// (--cpuprofile) there as cpu-<case>.pprof.
const envCPUProfile = "STIRLING_BENCH_CPUPROFILE"

// defaultSpeedup runs a simulated hour in about 36 s. Faster runs read fewer
// subpages than the simulated chip produces on a 2-core machine (see
// docs/benchmarks-publish.md), which would understate the work per hour.
const defaultSpeedup = 100

// simHour is the sensor time every run covers (--stop-after).
const simHour = time.Hour

// minSubpageShare is the share of the simulated chip's subpages the driver
// must read for a run to count as the same work as real time.
const minSubpageShare = 0.99

// BenchmarkCPUPerSimHour: CPU seconds per simulated hour of normal operation.
//
// It builds the stirling binary, runs `stirling run` on the simulated engine
// (scenario run, the camera at the shipped 4 Hz, one MQTT publisher with the
// batch layout to a real mosquitto over mutual TLS) accelerated so that an
// hour of sensor time passes in well under a minute, with --stop-after 1h,
// and reads the child's user+system CPU time from its os.ProcessState. An
// accelerated run does the work of a real hour only if no subpage is
// skipped: /metrics is scraped while it runs and the run fails when the
// driver read fewer than 99% of the subpages the simulated chip produced.
func BenchmarkCPUPerSimHour(b *testing.B) {
	speedup := defaultSpeedup
	if v := os.Getenv(envSpeedup); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			b.Fatalf("%s=%q: want 1 to 10000", envSpeedup, v)
		}
		speedup = n
	}
	realtime := time.Minute
	if v := os.Getenv(envRealtime); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 30*time.Second {
			b.Fatalf("%s=%q: want a duration of at least 30s", envRealtime, v)
		}
		realtime = d
	}
	bin := filepath.Join(b.TempDir(), "stirling")
	if _, err := agenttest.Build(bin); err != nil {
		b.Fatal(err)
	}
	rois, err := filepath.Abs(filepath.Join("..", "..", "configs", "rois.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	broker := mosquittotest.Start(b, nil)
	cases := []struct {
		name     string
		scenario string
		speedup  int
		stop     time.Duration
	}{
		// An hour of sensor time of the shipped scenario (cold start,
		// then running at about 2,200 RPM), accelerated.
		{fmt.Sprintf("speedup=%d", speedup), "run", speedup, simHour},
		// A minute at real time, already at the speed "run" settles at,
		// extrapolated to the hour from its steady part (see runAgent):
		// what the agent costs on a device.
		{"speedup=1", "steady", 1, realtime},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var perHour, wall, rss float64
			var last agentRun
			n := 0
			for b.Loop() {
				r := runAgent(b, bin, rois, broker, c.scenario, c.speedup, c.stop)
				if c.stop == simHour {
					perHour += r.CPU.Seconds()
				} else {
					perHour += r.SteadyCPUPerSimSecond * 3600
				}
				wall += r.Wall.Seconds()
				rss += r.RSS
				last = r
				n++
			}
			perHour /= float64(n)
			b.ReportMetric(perHour, "cpu_s/sim_hour")
			b.ReportMetric(perHour/3600*100, "core_%_realtime")
			b.ReportMetric(perHour/60, "cpu_s/sim_min")
			b.ReportMetric(rss/float64(n)/(1<<20), "rss_MiB")
			b.ReportMetric(wall/float64(n)*simHour.Seconds()/c.stop.Seconds(), "wall_s/sim_hour")
			b.ReportMetric(float64(c.speedup), "speedup")
			b.ReportMetric(last.Scrape["stirling_camera_subpages_total"]/last.Scrape["stirling_sim_engine_seconds"]*3600, "subpages/sim_hour")
		})
	}
}

// agentRun is the outcome of one `stirling run`.
type agentRun struct {
	CPU, Wall time.Duration      // the child's user+system CPU time; its run time
	Scrape    map[string]float64 // the last /metrics scrape before it exited
	// SteadyCPUPerSimSecond is the CPU time per second of engine time
	// between the first scrape after steadyFrom of engine time and the
	// last scrape (from /proc/<pid>/stat): startup and shutdown left out.
	SteadyCPUPerSimSecond float64
	// RSS is VmRSS (bytes) at the last scrape: the steady resident set.
	RSS float64
}

// steadyFrom is the engine time after which a run counts as steady: the
// flame is lit, the camera runs at 4 Hz and the publisher is connected.
const steadyFrom = 10 // seconds

// scrapeEvery is how often /metrics is read while the agent runs: each read
// costs the agent a little CPU, so a run at real time is read only every
// 10 s.
func scrapeEvery(speedup int) time.Duration {
	if speedup == 1 {
		return 10 * time.Second
	}
	return time.Second
}

func runAgent(b *testing.B, bin, rois string, broker *mosquittotest.Broker, scenario string, speedup int, stop time.Duration) agentRun {
	b.Helper()
	b.StopTimer()
	dir := b.TempDir()
	c := broker.Certs
	cfg := fmt.Sprintf(`device:
  thing_name: bench-cpu
sensors:
  bus: sim
  sim:
    scenario: %s
    steady_rpm: 2200
    seed: 1
    speedup: %d
rois_file: %q
pipeline:
  window: 1s
  batch:
    max_latency: 1s
spool:
  dir: %q
  max_bytes: 64MiB
  sync_interval: 1s
publishers:
  - type: mqtt
    endpoint: %q
    layout: batch
    cert_file: %q
    key_file: %q
    ca_file: %q
`, scenario, speedup, rois, filepath.Join(dir, "spool"), broker.Addr, c.ClientCert, c.ClientKey, c.CAFile)
	cfgFile := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", mosquittotest.FreePort(b))
	args := []string{"--http", addr, "--stop-after", stop.String()}
	if d := os.Getenv(envCPUProfile); d != "" {
		args = append(args, "--cpuprofile", filepath.Join(d, fmt.Sprintf("cpu-speedup=%d.pprof", speedup)))
	}
	b.StartTimer()
	a := agenttest.Start(b, bin, cfgFile, &agenttest.Opts{Args: args, Addr: addr})
	start := a.Started

	var mu sync.Mutex
	var scrape map[string]float64
	var first, lastS cpuAt // steady window: engine seconds and CPU
	var rss float64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if m, _, err := a.Metrics(ctx); err == nil {
				cpu, cerr := procCPU(a.Cmd.Process.Pid)
				vm, rerr := procRSS(a.Cmd.Process.Pid)
				mu.Lock()
				scrape = m
				if rerr == nil {
					rss = vm
				}
				if eng := m["stirling_sim_engine_seconds"]; cerr == nil && eng >= steadyFrom {
					if first.cpu == 0 {
						first = cpuAt{eng, cpu}
					}
					lastS = cpuAt{eng, cpu}
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(scrapeEvery(speedup)):
			}
		}
	})
	select {
	case <-a.Done():
	case <-time.After(10 * time.Minute):
		_ = a.Cmd.Process.Kill()
		<-a.Done()
		b.Errorf("agent still running after 10 min")
	}
	err := a.Err()
	wall := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	if err != nil {
		b.Fatalf("stirling run: %v\n%s", err, a.Stderr.String())
	}
	ps := a.Cmd.ProcessState
	r := agentRun{CPU: ps.UserTime() + ps.SystemTime(), Wall: wall, Scrape: scrape, RSS: rss}
	if lastS.eng > first.eng {
		r.SteadyCPUPerSimSecond = (lastS.cpu - first.cpu).Seconds() / (lastS.eng - first.eng)
	}
	if scrape == nil {
		b.Fatalf("no /metrics scrape succeeded\n%s", a.Stderr.String())
	}
	read, made := scrape["stirling_camera_subpages_total"], scrape["stirling_sim_camera_subpages_total"]
	share := read / made
	b.Logf("scenario %s, speedup %d, stop after %v: %v wall, %v CPU (user %v, sys %v), steady %.2f ms CPU per engine second (%.0f-%.0f s), VmRSS %.1f MiB; last scrape at %.0f s engine time: %.0f subpages read of %.0f made (%.2f%%), %.0f frames, %.0f windows, %.0f late readings, %.0f tach drops, %.0f records spooled, mqtt lag %.0f records, rpm %.0f",
		scenario, speedup, stop, wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), ps.UserTime().Round(time.Millisecond), ps.SystemTime().Round(time.Millisecond),
		1000*r.SteadyCPUPerSimSecond, first.eng, lastS.eng, rss/(1<<20), scrape["stirling_sim_engine_seconds"], read, made, 100*share, scrape["stirling_pipeline_frames_total"], scrape["stirling_pipeline_windows_total"],
		scrape["stirling_pipeline_late_total"], scrape["stirling_tach_dropped_total"], scrape["stirling_spool_appended_records_total"],
		scrape[`stirling_publisher_lag_records{publisher="mqtt"}`], scrape["stirling_sim_rpm"])
	if !(share >= minSubpageShare) {
		b.Errorf("the driver read %.2f%% of the simulated subpages (want >= %.0f%%): speedup %d is too fast for this machine, lower %s", 100*share, 100*minSubpageShare, speedup, envSpeedup)
	}
	b.StartTimer()
	return r
}

// cpuAt is a process's CPU time at some engine time.
type cpuAt struct {
	eng float64
	cpu time.Duration
}

// procCPU reads a process's user+system CPU time from /proc/<pid>/stat
// (Linux; clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	p, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	// The command name may hold spaces; fields start after its ')'.
	i := bytes.LastIndexByte(p, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(p[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ut+st) * tick, nil
}

// procRSS reads a process's resident set (VmRSS, bytes) from
// /proc/<pid>/status.
func procRSS(pid int) (float64, error) {
	p, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	for line := range strings.Lines(string(p)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("bench: /proc/%d/status: VmRSS %q", pid, v)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("bench: /proc/%d/status: no VmRSS", pid)
}
