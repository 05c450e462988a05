package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	// Window is pipeline.window in sensor time (default 1s). Every closed
	// window is a spool record: at a high speed-up a longer one keeps the
	// records per real second under the 100 publishes/s the publisher
	// allows itself.
	Window time.Duration
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
	window := c.Window
	if window == 0 {
		window = time.Second
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
  window: %s
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
`, c.Thing, c.Speedup, window, batchLatency, c.SpoolDir, c.Endpoint, c.Topic, c.Layout,
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

// startAgent runs the agent with its status server on httpAddr.
func startAgent(t *testing.T, config, httpAddr string) *agenttest.Agent {
	t.Helper()
	return agenttest.Start(t, agentBin, config, &agenttest.Opts{Addr: httpAddr})
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
