package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
)

var (
	agentBin string // built by TestMain
	buildErr error
	repoRoot string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stirling-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	agentBin = filepath.Join(dir, "stirling")
	repoRoot, buildErr = agenttest.Build(agentBin)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireAgent fails when the agent binary could not be built.
func requireAgent(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// speedup is the virtual-time factor of the long tests.
func speedup(t *testing.T) float64 {
	t.Helper()
	s := os.Getenv("STIRLING_E2E_SPEEDUP")
	if s == "" {
		// 100x: one simulated hour in 36 s. At 200x the tachometer
		// drops events on a loaded 2-core machine
		// (stirling_tach_dropped_total > 0).
		return 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 1 || f > 10000 {
		t.Fatalf("STIRLING_E2E_SPEEDUP=%q: want 1 to 10000", s)
	}
	return f
}

// agentConfig is what the tests vary in the YAML they write.
type agentConfig struct {
	Thing    string
	Speedup  float64
	Layout   string // sample or batch
	Endpoint string // host:port of the broker (usually a proxy)
	Topic    string
	Broker   *mosquittotest.Broker
	HTTP     string // listen address of the status page
	SpoolDir string
	// BatchLatency is pipeline.batch.max_latency in sensor time (default
	// 1s). At a high speed-up a longer one keeps the spool records per real
	// second under IoT Core's 100 publishes/s, which the publisher enforces.
	BatchLatency time.Duration
}

// writeConfig writes the agent's config and the ROI file next to it.
func writeConfig(t *testing.T, dir string, c agentConfig) string {
	t.Helper()
	rois, err := os.ReadFile(filepath.Join(repoRoot, "configs", "rois.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rois.yaml"), rois, 0o644); err != nil {
		t.Fatal(err)
	}
	batchLatency := c.BatchLatency
	if batchLatency == 0 {
		batchLatency = time.Second
	}
	y := fmt.Sprintf(`device:
  thing_name: %s
sensors:
  bus: sim
  sim:
    scenario: run
    seed: 1
    speedup: %g
rois_file: rois.yaml
pipeline:
  window: 1s
  batch:
    max_latency: %s
spool:
  dir: %s
  max_bytes: 256MiB
  sync_interval: 1s
publishers:
  - type: mqtt
    name: mqtt
    endpoint: %s
    topic: %s
    layout: %s
    cert_file: %s
    key_file: %s
    ca_file: %s
    keepalive: 30s
    qos: 1
http:
  listen: %s
`, c.Thing, c.Speedup, batchLatency, c.SpoolDir, c.Endpoint, c.Topic, c.Layout,
		c.Broker.Certs.ClientCert, c.Broker.Certs.ClientKey, c.Broker.Certs.CAFile, c.HTTP)
	path := filepath.Join(dir, "stirling.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(agentBin, "config", "check", path)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("stirling config check: %v\n%s\nconfig:\n%s", err, out, y)
	}
	return path
}

// agent is one running `stirling run` process.
type agent struct {
	t       *testing.T
	cmd     *exec.Cmd
	http    string
	started time.Time
	exited  chan struct{}
	waitErr error

	mu  sync.Mutex
	log bytes.Buffer
}

func startAgent(t *testing.T, config, httpAddr string) *agent {
	t.Helper()
	a := &agent{t: t, http: httpAddr, exited: make(chan struct{})}
	a.cmd = exec.Command(agentBin, "run", "--config", config)
	a.cmd.Dir = filepath.Dir(config)
	pr, pw := io.Pipe()
	a.cmd.Stdout, a.cmd.Stderr = pw, pw
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	a.started = time.Now()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			a.mu.Lock()
			a.log.Write(sc.Bytes())
			a.log.WriteByte('\n')
			a.mu.Unlock()
		}
	}()
	go func() {
		a.waitErr = a.cmd.Wait()
		pw.Close()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent output (last 4 KB):\n%s", a.tail(4096))
		}
	})
	return a
}

func (a *agent) tail(n int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.log.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (a *agent) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agent) stop() error {
	if !a.running() {
		return a.waitErr
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		return a.waitErr
	case <-time.After(15 * time.Second):
		a.kill()
		return errors.New("agent did not exit within 15 s of SIGTERM")
	}
}

// kill sends SIGKILL and waits for the process to go.
func (a *agent) kill() {
	if a.running() {
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// metrics reads /metrics into name{labels} -> value.
func (a *agent) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.http+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// waitMetrics polls /metrics until cond holds or timeout.
func (a *agent) waitMetrics(timeout time.Duration, cond func(map[string]float64) bool) (map[string]float64, error) {
	deadline := time.Now().Add(timeout)
	var last map[string]float64
	var lastErr error
	for time.Now().Before(deadline) {
		if !a.running() {
			return last, fmt.Errorf("agent exited: %v", a.waitErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := a.metrics(ctx)
		cancel()
		if err == nil {
			last = m
			if cond(m) {
				return m, nil
			}
		} else {
			lastErr = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last == nil {
		return nil, fmt.Errorf("/metrics never answered: %v", lastErr)
	}
	return last, fmt.Errorf("condition not met after %v", timeout)
}

// dropCounters returns every metric that counts dropped or lost data and is
// not zero (the status page's own SSE event drops are about a browser, not
// data, and are left out).
func dropCounters(m map[string]float64) map[string]float64 {
	bad := map[string]float64{}
	for k, v := range m {
		name := k
		if i := strings.IndexByte(k, '{'); i >= 0 {
			name = k[:i]
		}
		if strings.Contains(name, "sse") {
			continue
		}
		if (strings.Contains(name, "drop") || strings.Contains(name, "lost")) && v != 0 {
			bad[k] = v
		}
	}
	return bad
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", mosquittotest.FreePort(t))
}
