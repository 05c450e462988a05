package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/promtest"
)

// stirlingBin is the agent binary TestMain builds.
var stirlingBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stirling-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent test:", err)
		os.Exit(2)
	}
	// The permission test runs the binary as user nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "agent test:", err)
		os.Exit(2)
	}
	stirlingBin = filepath.Join(dir, "stirling")
	if _, err := agenttest.Build(stirlingBin); err != nil {
		fmt.Fprintln(os.Stderr, "agent test:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// config is an agent configuration as a YAML tree; tests change what they
// need with set.
type config map[string]any

// baseConfig is the simulated engine at the given speedup, a file
// publisher writing dir/out.jsonl, and the spool in dir/spool.
func baseConfig(dir string, speedup float64) config {
	return config{
		"device": map[string]any{"thing_name": "agent-test"},
		"sensors": map[string]any{
			"bus": "sim",
			"sim": map[string]any{"scenario": "run", "seed": 1, "speedup": speedup},
		},
		"rois_file": "rois.yaml",
		"pipeline": map[string]any{
			"window": "1s",
			"batch":  map[string]any{"max_latency": "1s"},
		},
		"spool": map[string]any{
			"dir":           filepath.Join(dir, "spool"),
			"max_bytes":     "64MiB",
			"sync_interval": "1s",
		},
		"publishers": []any{
			map[string]any{"type": "file", "path": filepath.Join(dir, "out.jsonl"), "rotate_bytes": "1GiB"},
		},
		"http": map[string]any{"listen": "127.0.0.1:0"},
	}
}

// set assigns v at a dotted path ("spool.max_bytes"), creating maps.
func (c config) set(path string, v any) config {
	keys := strings.Split(path, ".")
	m := map[string]any(c)
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
	return c
}

// write stores the config as dir/agent.yaml and returns its path.
func (c config) write(t *testing.T, dir string) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any(c))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is one running `stirling run`.
type proc struct{ *agenttest.Agent }

// start runs `stirling run --config cfg` and returns at once.
func start(t *testing.T, cfg string, o agenttest.Opts) *proc {
	t.Helper()
	return &proc{agenttest.Start(t, stirlingBin, cfg, &o)}
}

// status is the part of /api/status the tests read.
type status struct {
	EngineState string `json:"engine_state"`
	Readings    []struct {
		Metric  string    `json:"metric"`
		Value   float64   `json:"value"`
		Quality string    `json:"quality"`
		Time    time.Time `json:"time"`
	} `json:"readings"`
	Publishers []struct {
		Name       string `json:"name"`
		State      string `json:"state"`
		Delivered  uint64 `json:"delivered"`
		LagRecords int64  `json:"lag_records"`
	} `json:"publishers"`
	Spool struct {
		DepthRecords   int64  `json:"depth_records"`
		DepthBytes     int64  `json:"depth_bytes"`
		DroppedRecords uint64 `json:"dropped_records"`
		CorruptSkipped uint64 `json:"corrupt_skipped"`
	} `json:"spool"`
}

func (p *proc) status() (status, error) {
	var s status
	code, body, err := p.Get("/api/status")
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("/api/status: HTTP %d: %s", code, body)
	}
	err = json.Unmarshal([]byte(body), &s)
	return s, err
}

// metrics returns /metrics as series -> value, where every family name
// also holds the sum over its samples, and the raw text.
func (p *proc) metrics() (promtest.Series, string, error) {
	m, raw, err := p.Metrics(context.Background())
	return m.WithSums(), raw, err
}

// poll calls f every 50 ms until it returns true, or fails after d with
// the last description f gave.
func poll(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		ok, desc := f()
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v (last: %s)", what, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// record is one reading line of the file or stdout publisher.
type record struct {
	Seq     uint64  `json:"seq"`
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Quality string  `json:"quality"`
	Batch   uint64  `json:"batch"`
	Time    string  `json:"time"`
	Off     int64   `json:"-"` // byte offset of the line in what was parsed
}

// readRecords parses a JSON-lines file. A line that does not parse (a line
// torn by SIGKILL, with the next write appended to it) is counted in torn;
// a reading that starts inside such a line is recovered.
func readRecords(t *testing.T, path string) (recs []record, torn int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseRecords(b)
}

func parseRecords(b []byte) (recs []record, torn int) {
	off := 0
	for len(b) > 0 {
		line := b
		n := len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, n = b[:i], i+1
		}
		if len(line) > 0 {
			var r record
			if err := json.Unmarshal(line, &r); err == nil && r.Seq > 0 {
				r.Off = int64(off)
				recs = append(recs, r)
			} else {
				torn++
				if i := bytes.LastIndex(line, []byte(`{"seq":`)); i > 0 {
					if err := json.Unmarshal(line[i:], &r); err == nil && r.Seq > 0 {
						r.Off = int64(off + i)
						recs = append(recs, r)
					}
				}
			}
		}
		b, off = b[n:], off+n
	}
	return recs, torn
}

// fileSize is the size of path, 0 if missing.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
