package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
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

// lines is a concurrency-safe line collector for a process's output.
type lines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{} // closed and replaced on every write
}

func newLines() *lines { return &lines{added: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.added)
	l.added = make(chan struct{})
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait blocks until re matches the output, returning the match and its
// submatches, or fails the test after d.
func (l *lines) wait(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		ch := l.added
		l.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no output matching %q within %v; output:\n%s", re, d, tail(l.String(), 4000))
			return nil
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// proc is one running `stirling run`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *lines
	stdout *lines
	addr   string // status server host:port, once known
	done   chan struct{}
	err    error // Wait's result, after done
	ended  time.Time
}

// startOpts tweak how the agent process starts.
type startOpts struct {
	args []string // extra arguments after --config FILE
	env  []string // extra environment (KEY=value); AWS_GG_* is always cleared
	cred *syscall.Credential
	wrap []string // a command that execs the agent: wrap... stirling run ...
}

// start runs `stirling run --config cfg` and returns at once.
func start(t *testing.T, cfg string, o startOpts) *proc {
	t.Helper()
	args := append([]string{stirlingBin, "run", "--config", cfg}, o.args...)
	args = append(append([]string(nil), o.wrap...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = filepath.Dir(cfg)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_GG_") && !strings.HasPrefix(kv, "SVCUID=") && !strings.HasPrefix(kv, "AWS_IOT_THING_NAME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, o.env...)
	p := &proc{t: t, cmd: cmd, stderr: newLines(), stdout: newLines(), done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = p.stderr, p.stdout
	if o.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.cred}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", stirlingBin, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.ended = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("agent pid %d stderr:\n%s", cmd.Process.Pid, tail(p.stderr.String(), 6000))
		}
	})
	return p
}

var statusLine = regexp.MustCompile(`status page on http://([^/\s]+)/`)

// waitReady waits for the status server to listen.
func (p *proc) waitReady(d time.Duration) {
	p.t.Helper()
	m := p.stderr.wait(p.t, statusLine, d)
	p.addr = m[1]
}

// signal sends sig to the agent.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when
// killed by a signal).
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("agent still running after %v; stderr:\n%s", d, tail(p.stderr.String(), 4000))
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		p.t.Fatalf("wait: %v", p.err)
		return -2
	}
}

// kill SIGKILLs the agent and waits for it.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	if code := p.wait(5 * time.Second); code != -1 {
		p.t.Fatalf("after SIGKILL the exit code is %d; want -1 (killed)", code)
	}
}

// get fetches a path from the status server.
func (p *proc) get(path string) (int, string, error) {
	if p.addr == "" {
		return 0, "", errors.New("status server address not known yet")
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
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
	code, body, err := p.get("/api/status")
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("/api/status: HTTP %d: %s", code, body)
	}
	err = json.Unmarshal([]byte(body), &s)
	return s, err
}

// metrics returns /metrics as family name -> sum over its samples, and the
// raw text.
func (p *proc) metrics() (map[string]float64, string, error) {
	code, body, err := p.get("/metrics")
	if err != nil {
		return nil, "", err
	}
	if code != http.StatusOK {
		return nil, body, fmt.Errorf("/metrics: HTTP %d", code)
	}
	return parseMetrics(body), body, nil
}

// parseMetrics sums the samples of each family in a Prometheus text page.
// Samples with labels are also stored under their full name{labels}.
func parseMetrics(body string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
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
		series := line[:i]
		name := series
		if j := strings.IndexByte(series, '{'); j >= 0 {
			name = series[:j]
			out[series] = v
		}
		out[name] += v
	}
	return out
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
