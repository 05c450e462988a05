package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/testsrv/browsertest"
	"github.com/stirling-iot/stirling/sensors"
)

// liveAgent is `stirling run` on the simulated engine, in process.
type liveAgent struct {
	url  string       // status page, "http://127.0.0.1:PORT" without a slash
	rois string       // the ROI file the agent watches
	logs *syncBuffer  // everything the agent wrote to stderr
	stop func() error // cancels the agent and waits at most 4 s for run
}

// agentStopBudget is how long run may take to return after its context is
// cancelled (the agent promises to exit within 4 s of SIGTERM).
const agentStopBudget = 4 * time.Second

// startLiveAgent writes a copy of configs/sim.yaml with its spool and ROI
// file in a temporary directory and the simulated engine speedup times
// faster, runs the real agent on it with the status page on a free port,
// and waits for the line announcing the page. The agent is stopped when the
// test ends, if the test has not stopped it.
func startLiveAgent(t *testing.T, speedup float64) *liveAgent {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("..", "..", "configs", "sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("configs/sim.yaml: %v", err)
	}
	sub := func(key string) map[string]any {
		m, ok := doc[key].(map[string]any)
		if !ok {
			t.Fatalf("configs/sim.yaml: no %s section", key)
		}
		return m
	}
	simCfg, ok := sub("sensors")["sim"].(map[string]any)
	if !ok {
		t.Fatal("configs/sim.yaml: no sensors.sim section")
	}
	simCfg["speedup"] = speedup
	sub("spool")["dir"] = filepath.Join(dir, "spool")
	roisName, _ := doc["rois_file"].(string)
	if roisName == "" {
		t.Fatal("configs/sim.yaml: no rois_file")
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sim.yaml")
	if err := os.WriteFile(cfg, out, 0o644); err != nil {
		t.Fatal(err)
	}
	rois, err := os.ReadFile(filepath.Join("..", "..", "configs", "rois.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := &liveAgent{rois: filepath.Join(dir, roisName), logs: &syncBuffer{}}
	if err := os.WriteFile(a.rois, rois, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"run", "--config", cfg, "--http", "127.0.0.1:0"}, &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: pw})
		pw.Close()
		done <- err
	}()
	// The scanner keeps draining stderr until run returns, so the agent
	// never blocks on a log line.
	urls := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`^stirling: status page on (http://\S+)/ `)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(a.logs, line)
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	var stopped bool
	var stopErr error
	a.stop = func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			<-scanned
			stopErr = err
		case <-time.After(agentStopBudget):
			stopErr = fmt.Errorf("run did not return within %v of cancel", agentStopBudget)
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Errorf("agent: %v\n%s", err, a.logs)
		}
	})

	select {
	case a.url = <-urls:
	case err := <-done:
		done <- err
		t.Fatalf("agent exited before serving its page: %v\n%s", err, a.logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("agent printed no status page address:\n%s", a.logs)
	}
	return a
}

// agentROIs fetches the regions the agent's pipeline uses from /api/frame.
func (a *liveAgent) agentROIs(ctx context.Context) (sensors.ROIs, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/api/frame", nil)
	if err != nil {
		return sensors.ROIs{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sensors.ROIs{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sensors.ROIs{}, fmt.Errorf("GET /api/frame: %s", resp.Status)
	}
	var body struct {
		ROIs sensors.ROIs `json:"rois"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return sensors.ROIs{}, fmt.Errorf("GET /api/frame: %w", err)
	}
	return body.ROIs, nil
}

// heatmapColours counts the distinct colours on the #heatmap canvas,
// sampling every 97th pixel: a blank or single-colour canvas gives 1 or 2.
const heatmapColours = `(() => {
	const c = document.getElementById('heatmap');
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	const s = new Set();
	for (let i = 0; i < d.length; i += 4 * 97) s.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
	return s.size;
})()`

// readingText is a JS expression for the value cell of metric's row in the
// status page's readings table ("" while there is none).
func readingText(metric string) string {
	q, _ := json.Marshal(metric)
	return fmt.Sprintf(`(() => { for (const tr of document.querySelectorAll('#readings tbody tr'))
		if (tr.cells[0].textContent === %s) return tr.cells[1].textContent;
		return ''; })()`, q)
}

// TestStatusPageLiveAgent loads the status page of the real agent, running
// on the simulated engine at 20x, in headless Chromium: the heat map
// renders, the RPM and the temperatures move, the engine state and the
// publisher's health are shown; then the agent stops cleanly.
func TestStatusPageLiveAgent(t *testing.T) {
	start := time.Now()
	agent := startLiveAgent(t, 20)
	bctx := browsertest.New(t, 30*time.Second)

	hot := readingText("hot_cylinder_c")
	var colours int
	var rpm1, hot1 string
	err := chromedp.Run(bctx,
		chromedp.Navigate(agent.url+"/"),
		chromedp.Poll(`window.stirlingPage && stirlingPage.frameEvents > 1 && stirlingPage.statusEvents > 0`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Poll(hot+` !== ''`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate(heatmapColours, &colours),
		chromedp.Text("#rpm-now", &rpm1, chromedp.ByID),
		chromedp.Evaluate(hot, &hot1),
	)
	if err != nil {
		t.Fatalf("page: %v\nagent log:\n%s", err, agent.logs)
	}
	if colours < 10 {
		t.Fatalf("heat map has %d distinct colours; want a rendered image", colours)
	}

	// The engine heats up and spins up: both numbers change.
	q1, _ := json.Marshal(rpm1)
	q2, _ := json.Marshal(hot1)
	var rpm2, hot2, engine, health string
	var pubs [][]string
	err = chromedp.Run(bctx,
		chromedp.Poll(fmt.Sprintf(`document.getElementById('rpm-now').textContent !== %s && %s !== %s`, q1, hot, q2),
			nil, chromedp.WithPollingTimeout(10*time.Second)),
		// 20x: the flame is lit at 2 s and the flywheel starts about 20 s
		// of engine time later, so the engine is running within seconds.
		chromedp.Poll(`document.getElementById('engine').textContent === 'engine: running'`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		// The stdout publisher has delivered batches.
		chromedp.Poll(`(() => { const tr = document.querySelector('#publishers tbody tr'); return tr && Number(tr.cells[2].textContent) > 0; })()`,
			nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text("#rpm-now", &rpm2, chromedp.ByID),
		chromedp.Evaluate(hot, &hot2),
		chromedp.Text("#engine", &engine, chromedp.ByID),
		chromedp.Text("#health", &health, chromedp.ByID),
		chromedp.Evaluate(`[...document.querySelectorAll('#publishers tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent))`, &pubs),
	)
	if err != nil {
		t.Fatalf("page: %v\nagent log:\n%s", err, agent.logs)
	}
	if rpm1 == rpm2 || hot1 == hot2 {
		t.Fatalf("numbers did not change: rpm %q -> %q, hot cylinder %q -> %q", rpm1, rpm2, hot1, hot2)
	}
	if v, err := strconv.ParseFloat(rpm2, 64); err != nil || v <= 0 {
		t.Errorf("RPM shown %q while the engine runs; want a positive number", rpm2)
	}
	if !strings.HasSuffix(hot2, "°C") {
		t.Errorf("hot cylinder shown as %q; want a value in °C", hot2)
	}
	if health != "healthy" {
		t.Errorf("health pill %q, want healthy", health)
	}
	// The publishers table: one row, the stdout publisher, healthy: idle
	// or delivering, batches delivered, none rejected, no error.
	// Columns: name, state, delivered, retried, rejected, lag, last success, last error.
	if len(pubs) != 1 || len(pubs[0]) != 8 {
		t.Fatalf("publishers table %q; want one row of 8 cells", pubs)
	}
	if p := pubs[0]; p[0] != "stdout" || (p[1] != "idle" && p[1] != "delivering") || p[4] != "0" || p[6] == "never" || p[7] != "" {
		t.Fatalf("publisher row %q; want stdout, idle or delivering, nothing rejected, a last success and no error", p)
	}
	browsertest.CheckCSP(t, bctx)
	t.Logf("colours=%d rpm %s -> %s, hot cylinder %s -> %s, %s, %s, publisher %q (%v)",
		colours, rpm1, rpm2, hot1, hot2, engine, health, pubs[0], time.Since(start).Round(time.Millisecond))

	stopAt := time.Now()
	if err := agent.stop(); err != nil {
		t.Fatalf("agent: %v\n%s", err, agent.logs)
	}
	t.Logf("agent stopped in %v", time.Since(stopAt).Round(time.Millisecond))
}

// mouseDrag presses the left button at (x0, y0), moves to (x1, y1) in five
// steps and releases it: real input events, as a user's drag.
func mouseDrag(x0, y0, x1, y1 float64) chromedp.Tasks {
	t := chromedp.Tasks{
		chromedp.MouseEvent(input.MouseMoved, x0, y0),
		chromedp.MouseEvent(input.MousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	}
	for i := 1; i <= 5; i++ {
		f := float64(i) / 5
		t = append(t, chromedp.MouseEvent(input.MouseMoved, x0+(x1-x0)*f, y0+(y1-y0)*f, chromedp.ButtonLeft))
	}
	return append(t, chromedp.MouseEvent(input.MouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// TestCalibrateReloadsAgent is the calibration round trip against the real
// agent: `stirling calibrate` reads frames from the running agent, the
// flame region is dragged with the mouse in headless Chromium, Save writes
// the agent's ROI file, and the agent applies it without a restart.
func TestCalibrateReloadsAgent(t *testing.T) {
	start := time.Now()
	agent := startLiveAgent(t, 20)
	before, err := configs.LoadROIs(agent.rois)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// /api/frame answers 503 until the camera's first frame.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err := agent.agentROIs(ctx)
		if err == nil && got == *before {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("agent uses %+v (%v) before calibration, want the file's %+v", got, err, *before)
		}
	}
	// No --rois: calibrate saves to the file the agent reports.
	page := startCalibrateWeb(t, "--agent", agent.url, "--source", "agent", "--listen", "127.0.0.1:0", "--owner", "")
	bctx := browsertest.New(t, 30*time.Second)

	var colours int
	var file string
	var flame0 sensors.ROI
	var rect struct{ Left, Top, Width, Height float64 }
	err = chromedp.Run(bctx,
		chromedp.Navigate(page),
		chromedp.Poll(`window.calib && calib.frames > 1`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(heatmapColours, &colours),
		chromedp.Poll(`document.getElementById('file').textContent.includes('/')`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#file", &file, chromedp.ByID),
		chromedp.Evaluate(`calib.rois.flame`, &flame0),
		chromedp.Evaluate(`(() => { const r = document.getElementById('heatmap').getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`, &rect),
	)
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	if colours < 10 {
		t.Fatalf("heat map has %d distinct colours; want a rendered image", colours)
	}
	if file != "Save writes "+agent.rois {
		t.Errorf("page shows %q, want the agent's file %s", file, agent.rois)
	}
	if flame0 != before.Flame {
		t.Fatalf("page starts with flame %s, the file has %s", flame0, before.Flame)
	}

	// Grab the flame in its middle and move it 3 columns right and 1 row
	// down: it stays clear of the cold cylinder and inside the image.
	const dx, dy = 3, 1
	want := *before
	want.Flame.X += dx
	want.Flame.Y += dy
	if err := want.Validate(); err != nil {
		t.Fatalf("the moved regions would be invalid (is configs/rois.yaml changed?): %v", err)
	}
	cell := rect.Width / sensors.Width
	at := func(px, py float64) (float64, float64) { return rect.Left + px*cell, rect.Top + py*cell }
	cx, cy := float64(before.Flame.X)+float64(before.Flame.W)/2, float64(before.Flame.Y)+float64(before.Flame.H)/2
	x0, y0 := at(cx, cy)
	x1, y1 := at(cx+dx, cy+dy)
	var moved sensors.ROI
	var msg string
	err = chromedp.Run(bctx,
		mouseDrag(x0, y0, x1, y1),
		chromedp.Evaluate(`calib.rois.flame`, &moved),
	)
	if err != nil {
		t.Fatalf("drag: %v", err)
	}
	if moved != want.Flame {
		t.Fatalf("flame after the drag %s, want %s", moved, want.Flame)
	}
	saved := time.Now()
	err = chromedp.Run(bctx,
		chromedp.Click("#save", chromedp.ByID),
		chromedp.Poll(`calib.saves === 1`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#msg", &msg, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	if !strings.Contains(msg, "Saved to "+agent.rois) {
		t.Errorf("message after Save %q, want it to say where it saved", msg)
	}
	browsertest.CheckCSP(t, bctx)
	// The file on disk, read as the agent reads it.
	got, err := configs.LoadROIs(agent.rois)
	if err != nil || *got != want {
		t.Fatalf("file has %+v (%v), want %+v", got, err, want)
	}

	// The agent polls the file every second: it must apply the new regions
	// within 5 s.
	var inUse sensors.ROIs
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		inUse, err = agent.agentROIs(ctx)
		if err == nil && inUse == want {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("agent still uses %+v (%v) 5 s after Save, want %+v\nagent log:\n%s", inUse, err, want, agent.logs)
		}
	}
	reload := time.Since(saved)
	logLine := ""
	for l := range strings.SplitSeq(agent.logs.String(), "\n") {
		if strings.Contains(l, "ROI file reloaded") {
			logLine = l
		}
	}
	if logLine == "" || !strings.Contains(logLine, "flame="+want.Flame.String()) {
		t.Fatalf("agent did not log the reload with the new flame %s; log:\n%s", want.Flame, agent.logs)
	}
	if err := agent.stop(); err != nil {
		t.Fatalf("agent: %v\n%s", err, agent.logs)
	}
	t.Logf("colours=%d flame %s -> %s, agent applied it %v after Save (%v total); %q",
		colours, before.Flame, inUse.Flame, reload.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), logLine)
}
