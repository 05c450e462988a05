package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/calibrate"
	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCalibrate(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"calibrate"}, args...), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), err
}

func TestCalibrateHelp(t *testing.T) {
	out, _, err := runCalibrate(t, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"--listen", "token", "--terminal", "--roi", "--png", "--rois", "--owner", "Suggest",
		"hottest compact blob", "FILE.bak", "greengrass", "/api/frame", "--sim", "0.0.0.0:8088"} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestCalibrateROIFlags(t *testing.T) {
	good := []string{"--roi", "hot_cylinder=4,6,8,8", "--roi", "cold_cylinder=20,6,8,8", "--roi", "flame=5,16,6,6"}
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: success
		want    sensors.ROIs
	}{
		{"all three", good, "", sensors.ROIs{HotCylinder: sensors.ROI{X: 4, Y: 6, W: 8, H: 8}, ColdCylinder: sensors.ROI{X: 20, Y: 6, W: 8, H: 8}, Flame: sensors.ROI{X: 5, Y: 16, W: 6, H: 6}}},
		{"one, rest from defaults", []string{"--roi", "flame=6,16,5,5"}, "", sensors.ROIs{HotCylinder: sensors.ROI{X: 4, Y: 6, W: 8, H: 8}, ColdCylinder: sensors.ROI{X: 20, Y: 6, W: 8, H: 8}, Flame: sensors.ROI{X: 6, Y: 16, W: 5, H: 5}}},
		{"out of frame", []string{"--roi", "cold_cylinder=28,6,8,8"}, "leaves the 32x24 frame", sensors.ROIs{}},
		{"empty", []string{"--roi", "flame=5,16,0,6"}, "is empty", sensors.ROIs{}},
		{"overlap", []string{"--roi", "cold_cylinder=8,6,8,8"}, "hot_cylinder and cold_cylinder overlap", sensors.ROIs{}},
		{"flame on cold", []string{"--roi", "flame=21,7,2,2"}, "flame and cold_cylinder overlap", sensors.ROIs{}},
		{"bad name", []string{"--roi", "burner=1,1,1,1"}, "usage", sensors.ROIs{}},
		{"bad numbers", []string{"--roi", "flame=1,1,1"}, "usage", sensors.ROIs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "etc", "rois.yaml")
			out, stderr, err := runCalibrate(t, append([]string{"--rois", path, "--owner", ""}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+stderr, tc.wantErr) {
					t.Fatalf("err = %v, stderr %q; want %q", err, stderr, tc.wantErr)
				}
				if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf("file written despite the error: %v", serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got, err := calibrate.LoadROIs(path)
			if err != nil || got != tc.want {
				t.Fatalf("file %+v %v, want %+v", got, err, tc.want)
			}
			// The agent reads the file with configs.LoadROIs.
			if agent, err := configs.LoadROIs(path); err != nil || *agent != tc.want {
				t.Fatalf("agent reads %+v %v, want %+v", agent, err, tc.want)
			}
			if !strings.Contains(out, `{"com.stirling.Agent":{"MERGE":{"rois":{"hot_cylinder":`) || !strings.Contains(out, "greengrass-cli deployment create") {
				t.Fatalf("no configuration merge in output:\n%s", out)
			}
		})
	}
}

func TestCalibrateSimSuggestPNG(t *testing.T) {
	dir := t.TempDir()
	path, img := filepath.Join(dir, "rois.yaml"), filepath.Join(dir, "snap.png")
	if err := os.WriteFile(path, calibrate.MarshalROIs(sensors.ROIs{
		HotCylinder: sensors.ROI{X: 0, Y: 0, W: 2, H: 2}, ColdCylinder: sensors.ROI{X: 30, Y: 0, W: 2, H: 2}, Flame: sensors.ROI{X: 0, Y: 22, W: 2, H: 2},
	}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCalibrate(t, "--sim", "--suggest", "--png", img, "--rois", path, "--owner", "")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	got, err := calibrate.LoadROIs(path)
	if err != nil {
		t.Fatal(err)
	}
	// The simulator's layout is the ground truth.
	l := camera.DefaultLayout()
	truth := l.ROIs()
	if got.HotCylinder != truth.HotCylinder || got.ColdCylinder != truth.ColdCylinder || !truth.Flame.Contains(got.Flame.X, got.Flame.Y) {
		t.Errorf("suggested %+v, simulator layout %+v", got, truth)
	}
	if _, err := calibrate.LoadROIs(path + ".bak"); err != nil {
		t.Errorf("no backup: %v", err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("png: %v", err)
	}
	t.Logf("%s", out)
}

func TestCalibrateTerminalOnce(t *testing.T) {
	out, stderr, err := runCalibrate(t, "--sim", "--terminal", "--once", "--rois", filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"\x1b[48;2;", "hot_cylinder   mean", "cold_cylinder: x=20 y=6 w=8 h=8"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q", want)
		}
	}
}

// simAgent is a status.Source serving frames from the simulated camera
// through the real driver, as the agent would.
type simAgent struct {
	mu       sync.Mutex
	f        sensors.Frame
	roisFile string // reported in /api/status
}

func (a *simAgent) Snapshot() status.Snapshot { return status.Snapshot{ROIsFile: a.roisFile} }
func (a *simAgent) Frame(dst *sensors.Frame) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	*dst = a.f
	return true
}
func (a *simAgent) ROIs() sensors.ROIs { l := camera.DefaultLayout(); return l.ROIs() }

func newSimAgent(t *testing.T) *httptest.Server { return newSimAgentFile(t, "") }

// newSimAgentFile is newSimAgent reporting roisFile as the file it reads.
func newSimAgentFile(t *testing.T, roisFile string) *httptest.Server {
	t.Helper()
	chip, err := camera.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dev, err := mlx90640.New(ctx, chip, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &simAgent{roisFile: roisFile}
	for range 2 {
		if err := dev.NextFrame(ctx, &a.f); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(status.New(a, &status.Opts{Logger: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestCalibrateFromAgent(t *testing.T) {
	agent := newSimAgent(t)
	out, stderr, err := runCalibrate(t, "--agent", agent.URL, "--suggest", "--dry-run", "--rois", filepath.Join(t.TempDir(), "rois.yaml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "frames from the running agent") || !strings.Contains(out, "cold_cylinder  20,6,8,8") || !strings.Contains(out, "not saved (--dry-run)") {
		t.Fatalf("output:\n%s", out)
	}
	// --source agent with nothing listening is a clear error.
	_, _, err = runCalibrate(t, "--source", "agent", "--agent", "http://127.0.0.1:1", "--suggest")
	if !errors.Is(err, calibrate.ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent", err)
	}
}

// startCalibrateWeb runs `stirling calibrate` serving its page until the
// test ends and returns the URL it printed. Tests (including the agent's
// reload test) point it at an agent with --agent and at a file with --rois.
func startCalibrateWeb(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"calibrate"}, args...), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("calibrate: %v\n%s", err, errb.String())
		}
	})
	re := regexp.MustCompile(`calibrate: open (http://\S+)`)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("calibrate exited: %v\n%s%s", err, out.String(), errb.String())
		default:
		}
	}
	t.Fatalf("no URL printed:\n%s%s", out.String(), errb.String())
	return ""
}

func TestCalibrateWeb(t *testing.T) {
	agent := newSimAgent(t)
	path := filepath.Join(t.TempDir(), "rois.yaml")
	url := startCalibrateWeb(t, "--agent", agent.URL, "--listen", "127.0.0.1:0", "--rois", path, "--owner", "")
	if strings.Contains(url, "token=") {
		t.Fatalf("loopback URL carries a token: %s", url)
	}
	resp, err := http.Get(url + "api/suggest")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("suggest: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(url+"api/save", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(msg), "MERGE") {
		t.Fatalf("save: %d %s", resp.StatusCode, msg)
	}
	l := camera.DefaultLayout()
	if got, err := calibrate.LoadROIs(path); err != nil || got.HotCylinder != l.HotCylinder {
		t.Fatalf("saved %+v %v", got, err)
	}
}

func TestCalibrateWebTokenOnLAN(t *testing.T) {
	agent := newSimAgent(t)
	url := startCalibrateWeb(t, "--agent", agent.URL, "--listen", "0.0.0.0:0", "--rois", filepath.Join(t.TempDir(), "rois.yaml"))
	if !strings.Contains(url, "?token=") {
		t.Fatalf("LAN URL without token: %s", url)
	}
	// Reach it over loopback, without and with the token.
	port := url[strings.LastIndex(url, ":")+1 : strings.Index(url, "/?")]
	base := "http://127.0.0.1:" + port + "/"
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %d", resp.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err = c.Get(base + url[strings.Index(url, "?"):])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with token: %d", resp.StatusCode)
	}
	resp, err = c.Get(base + "api/frame")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("frame with the cookie: %d", resp.StatusCode)
	}
}

func TestCalibrateEmbeddedConfigNeedsROIsFlag(t *testing.T) {
	_, _, err := runCalibrate(t, "--config", "embedded:sim.yaml", "--agent", noAgent, "--roi", "flame=5,16,6,6")
	if err == nil || !strings.Contains(err.Error(), "pass --rois FILE") || !strings.Contains(err.Error(), "shipped inside the binary") {
		t.Fatalf("err = %v", err)
	}
}

func TestCalibrateConfigROIsFile(t *testing.T) {
	dir := t.TempDir()
	cfg, err := configs.Embedded("sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCalibrate(t, "--config", filepath.Join(dir, "agent.yaml"), "--agent", noAgent, "--owner", "", "--roi", "flame=6,16,5,5"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	c, err := configs.Load(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ROIsDefaulted || c.ROIs.Flame != (sensors.ROI{X: 6, Y: 16, W: 5, H: 5}) {
		t.Fatalf("agent config sees %+v (defaulted %v)", c.ROIs, c.ROIsDefaulted)
	}
}

// noAgent is an agent URL nothing answers on.
const noAgent = "http://127.0.0.1:1"

// TestCalibrateTarget: without --rois, calibrate saves to the file the
// running agent reports, else to the rois_file of --config, else refuses
// naming both options; it never guesses a path.
func TestCalibrateTarget(t *testing.T) {
	set := []string{"--owner", "", "--roi", "flame=6,16,5,5"}
	want := configs.DefaultROIs()
	want.Flame = sensors.ROI{X: 6, Y: 16, W: 5, H: 5}
	cfgCopy := func(t *testing.T, dir string) string {
		cfg, err := configs.Embedded("sim.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(p, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		// args returns the flags and the file that must be written
		// (empty: nothing may be written, the error must hold errWant).
		args    func(t *testing.T, dir string) ([]string, string)
		errWant []string
		outWant string
	}{
		{"the agent's file", func(t *testing.T, dir string) ([]string, string) {
			p := filepath.Join(dir, "work", "rois.yaml")
			return []string{"--agent", newSimAgentFile(t, p).URL}, p
		}, nil, "(from the agent at http://"},
		{"the agent's file wins over --config", func(t *testing.T, dir string) ([]string, string) {
			p := filepath.Join(dir, "work", "rois.yaml")
			return []string{"--agent", newSimAgentFile(t, p).URL, "--config", cfgCopy(t, dir)}, p
		}, nil, "(from the agent at http://"},
		{"--rois wins over the agent", func(t *testing.T, dir string) ([]string, string) {
			p := filepath.Join(dir, "mine.yaml")
			return []string{"--agent", newSimAgentFile(t, filepath.Join(dir, "work", "rois.yaml")).URL, "--rois", p}, p
		}, nil, "(from --rois)"},
		{"no agent: --config's rois_file", func(t *testing.T, dir string) ([]string, string) {
			return []string{"--agent", noAgent, "--config", cfgCopy(t, dir)}, filepath.Join(dir, "rois.yaml")
		}, nil, "agent.yaml (rois_file)"},
		{"agent with built-in regions: --config's rois_file", func(t *testing.T, dir string) ([]string, string) {
			return []string{"--agent", newSimAgentFile(t, "").URL, "--config", cfgCopy(t, dir)}, filepath.Join(dir, "rois.yaml")
		}, nil, "agent.yaml (rois_file)"},
		{"neither", func(t *testing.T, dir string) ([]string, string) {
			return []string{"--agent", noAgent}, ""
		}, []string{"no ROI file to save to", "agent not reachable at " + noAgent, "--rois FILE", "--config FILE"}, ""},
		{"agent with built-in regions, no --config", func(t *testing.T, dir string) ([]string, string) {
			return []string{"--agent", newSimAgentFile(t, "").URL}, ""
		}, []string{"no ROI file to save to", "shipped inside the binary", "--rois FILE", "--config FILE"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args, file := tc.args(t, dir)
			out, stderr, err := runCalibrate(t, append(args, set...)...)
			if file == "" {
				if err == nil || !errors.Is(err, calibrate.ErrNoROIsFile) {
					t.Fatalf("err = %v, want ErrNoROIsFile", err)
				}
				for _, w := range tc.errWant {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				var found []string
				_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
					if d != nil && !d.IsDir() {
						found = append(found, p)
					}
					return nil
				})
				if len(found) > 0 {
					t.Errorf("files written: %v", found)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if !strings.Contains(out, "calibrate: saving to "+file+" "+tc.outWant) && !strings.Contains(out, "calibrate: saving to "+file+" (from "+dir) {
				t.Errorf("output does not name the file first:\n%s", out)
			}
			if !strings.Contains(out, "Saved to "+file+" (no previous file)") {
				t.Errorf("output:\n%s", out)
			}
			if got, err := configs.LoadROIs(file); err != nil || *got != want {
				t.Fatalf("%s: %+v %v, want %+v", file, got, err, want)
			}
		})
	}
}

// TestCalibrateWebShowsAgentFile: the page, with no --rois, names and
// writes the file the agent reads.
func TestCalibrateWebShowsAgentFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "work", "rois.yaml")
	agent := newSimAgentFile(t, path)
	url := startCalibrateWeb(t, "--agent", agent.URL, "--listen", "127.0.0.1:0", "--owner", "")
	resp, err := http.Get(url + "api/file")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		File string
		Save bool
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.File != path || !info.Save {
		t.Fatalf("api/file: %+v %v, want %s", info, err, path)
	}
	body, _ := json.Marshal(configs.DefaultROIs())
	resp, err = http.Post(url+"api/save", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(msg), "Saved to "+path+" (no previous file)") {
		t.Fatalf("save: %d %s", resp.StatusCode, msg)
	}
	if got, err := configs.LoadROIs(path); err != nil || *got != configs.DefaultROIs() {
		t.Fatalf("saved %+v %v", got, err)
	}
}

// TestAgentReportsROIsFile: the real agent reports the absolute path of
// the ROI file it watches, and `stirling calibrate` without --rois saves
// there.
func TestAgentReportsROIsFile(t *testing.T) {
	agent := startLiveAgent(t, 20)
	resp, err := http.Get(agent.url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		ROIsFile *string `json:"rois_file"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.ROIsFile == nil || *st.ROIsFile != agent.rois {
		t.Fatalf("/api/status rois_file %v (%v), want %s", st.ROIsFile, err, agent.rois)
	}
	out, stderr, err := runCalibrate(t, "--agent", agent.url, "--owner", "", "--roi", "flame=6,16,5,5")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "Saved to "+agent.rois+" (previous version in "+agent.rois+".bak)") {
		t.Fatalf("output:\n%s", out)
	}
	if got, err := configs.LoadROIs(agent.rois); err != nil || got.Flame != (sensors.ROI{X: 6, Y: 16, W: 5, H: 5}) {
		t.Fatalf("agent's file %+v %v", got, err)
	}
}
