package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv"
	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// healthDoc is the JSON body of /livez and /healthz.
type healthDoc struct {
	Status string `json:"status"`
	Checks []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

// health fetches /livez or /healthz and decodes its body (an empty doc
// when the body is not JSON, as before the endpoints had one).
func (p *proc) health(path string) (int, healthDoc, string, error) {
	var d healthDoc
	code, body, err := p.Get(path)
	if err != nil {
		return 0, d, "", err
	}
	_ = json.Unmarshal([]byte(body), &d)
	return code, d, body, nil
}

// mountTmpfs mounts a tmpfs of size bytes on dir, unmounted in cleanup
// (after the agent, which is registered later, was killed). Outside CI a
// test that cannot mount is skipped.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		testsrv.RequireInCI(t, "mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0750", size), "tmpfs", dir).CombinedOutput(); err != nil {
		testsrv.RequireInCI(t, "mount tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// freeBytes is the space left for unprivileged writes on the file system of dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestSpoolDiskFull fills the file system under the spool for real (a
// 256 KiB tmpfs). Within one window /livez and /healthz turn 503, their
// JSON names the spool check and ENOSPC, the readings that could not be
// written are counted on /metrics, and the agent keeps running and
// collecting. Once space returns (the tmpfs is remounted bigger) both
// endpoints turn 200 again and appends resume.
func TestSpoolDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	mountTmpfs(t, spoolDir, 256<<10)

	// One window here is the derived http.livez_window: 3 x
	// (pipeline.window + batch.max_latency) = 3 x (1s + 1s), at least 10s.
	const window = 10 * time.Second
	c := baseConfig(dir, 1000)
	c.set("spool.segment_bytes", "64KiB")
	c["publishers"] = []any{undeliverable()} // nothing is delivered, so nothing is reclaimed
	p := start(t, c.write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)

	poll(t, 20*time.Second, "/healthz 200 while the disk has room", func() (bool, string) {
		hc, _, hb, err := p.health("/healthz")
		return err == nil && hc == 200, fmt.Sprintf("healthz %d %s %v", hc, hb, err)
	})
	if lc, _, lb, err := p.health("/livez"); err != nil || lc != 200 {
		t.Errorf("/livez while the disk has room: %d %q %v; want 200", lc, lb, err)
	}

	// Watch the disk fill and the endpoints turn.
	var full, liveDown, healthDown time.Time
	var healthBody healthDoc
	var raw string
	deadline := time.Now().Add(90 * time.Second)
	for liveDown.IsZero() || healthDown.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("not both 503 within 90s (disk full at %v, livez 503 at %v, healthz 503 at %v); last /healthz: %s; free %d bytes",
				full, liveDown, healthDown, raw, freeBytes(t, spoolDir))
		}
		now := time.Now()
		if full.IsZero() && freeBytes(t, spoolDir) < 4096 {
			full = now
		}
		if code, _, _, err := p.health("/livez"); err == nil && code == http.StatusServiceUnavailable && liveDown.IsZero() {
			liveDown = time.Now()
		}
		if code, d, body, err := p.health("/healthz"); err == nil {
			raw = body
			if code == http.StatusServiceUnavailable && healthDown.IsZero() {
				healthDown, healthBody = time.Now(), d
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The disk is full when it first refuses an append: the agent logs
	// that (with millisecond times on this machine's wall clock). The
	// file system may still show a few KiB free then, less than a batch.
	m := regexp.MustCompile(`time=(\S+) level=ERROR msg="append failed`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("the endpoints turned 503 but no failed append was logged (free %d bytes): %s", freeBytes(t, spoolDir), raw)
	}
	refused, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log time %q: %v", m[1], err)
	}
	if full.IsZero() || refused.Before(full) {
		full = refused
	}
	healthLag, liveLag := healthDown.Sub(full), liveDown.Sub(full)
	t.Logf("disk full (first refused append %s, statfs free < 4 KiB or earlier) -> /healthz 503 seen after %d ms, /livez after %d ms (window %v)",
		m[1], healthLag.Milliseconds(), liveLag.Milliseconds(), window)
	if healthLag > window || liveLag > window {
		t.Errorf("/healthz 503 %v and /livez 503 %v after the disk filled; want within one window (%v)", healthLag, liveLag, window)
	}
	if healthBody.Status == "ok" || healthBody.Status == "" {
		t.Errorf("/healthz JSON status %q while 503; body %s", healthBody.Status, raw)
	}
	named := false
	for _, ck := range healthBody.Checks {
		if ck.Name == "spool" && !ck.OK && strings.Contains(ck.Reason, "ENOSPC") {
			named = true
		}
	}
	if !named {
		t.Errorf("/healthz JSON has no failing spool check naming ENOSPC: %s", raw)
	}

	// While the disk stays full the endpoints stay 503: an append that
	// squeezes into the last partly used page is no recovery.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		lc, _, _, err := p.health("/livez")
		hc, _, hb, err2 := p.health("/healthz")
		if err == nil && err2 == nil && (lc != http.StatusServiceUnavailable || hc != http.StatusServiceUnavailable) {
			t.Fatalf("disk still full (free %d bytes) but /livez %d, /healthz %d: %s", freeBytes(t, spoolDir), lc, hc, hb)
		}
	}

	// The readings lost to the full disk are counted, and the count grows:
	// the agent keeps collecting.
	lost := func() (float64, float64, map[string]float64) {
		m, _, err := p.metrics()
		if err != nil {
			t.Fatal(err)
		}
		return m[`stirling_spool_lost_readings_total{reason="no_space"}`], m["stirling_pipeline_readings_out_total"], m
	}
	lost1, out1, _ := lost()
	if lost1 == 0 {
		t.Fatalf(`stirling_spool_lost_readings_total{reason="no_space"} is 0 while the disk is full`)
	}
	poll(t, 20*time.Second, "more readings collected and lost while the disk is full", func() (bool, string) {
		l, o, _ := lost()
		return l > lost1 && o > out1, fmt.Sprintf("lost %v -> %v, readings out %v -> %v", lost1, l, out1, o)
	})
	select {
	case <-p.Done():
		t.Fatalf("the agent exited on a full disk: %v", p.Err())
	default:
	}
	var st struct {
		Spool struct {
			LostReadings uint64 `json:"lost_readings"`
		} `json:"spool"`
	}
	if _, body, err := p.Get("/api/status"); err != nil || json.Unmarshal([]byte(body), &st) != nil || st.Spool.LostReadings == 0 {
		t.Errorf("/api/status spool.lost_readings = %d (err %v); want > 0 for the page", st.Spool.LostReadings, err)
	}

	// Space returns.
	if out, err := exec.Command("mount", "-o", "remount,size=16m", spoolDir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s bigger: %v: %s", spoolDir, err, out)
	}
	freed := time.Now()
	_, _, mm := lost()
	appended := mm["stirling_spool_appended_records_total"]
	poll(t, 30*time.Second, "/livez and /healthz 200 again after space returned", func() (bool, string) {
		lc, _, lb, err := p.health("/livez")
		hc, _, hb, err2 := p.health("/healthz")
		if err != nil || err2 != nil {
			return false, fmt.Sprint(err, err2)
		}
		return lc == 200 && hc == 200, fmt.Sprintf("livez %d %s; healthz %d %s", lc, lb, hc, hb)
	})
	recovered := time.Since(freed)
	lostTotal, _, mm := lost()
	if mm["stirling_spool_appended_records_total"] <= appended {
		t.Errorf("healthy again but nothing appended since the space returned")
	}
	t.Logf("space returned -> 200 after %d ms; %v readings lost to the full disk and counted", recovered.Milliseconds(), lostTotal)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
}

// TestHTTPListenEmptyIsOff: `http.listen: ""` turns the status server off,
// as docs/configuration.md says: no "status page on" line and no listening
// socket in the agent process.
func TestHTTPListenEmptyIsOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := baseConfig(dir, 50)
	c.set("http.listen", "")
	p := start(t, c.write(t, dir), agenttest.Opts{})
	p.Stderr.Wait(t, regexp.MustCompile(`msg="agent running"`), 15*time.Second)
	// The server would listen before "agent running"; look a few times in
	// case the process is slow.
	for range 5 {
		if ls := listeningSockets(t, p.Cmd.Process.Pid); len(ls) > 0 {
			t.Fatalf("http.listen \"\": the agent listens on %v; want no listener", ls)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if agenttest.StatusLine.MatchString(p.Stderr.String()) {
		t.Errorf("http.listen \"\": the agent announced a status page:\n%s", agenttest.Tail(p.Stderr.String(), 2000))
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0:\n%s", code, agenttest.Tail(p.Stderr.String(), 2000))
	}
}

// listeningSockets returns the local addresses of the TCP sockets pid has
// open in the LISTEN state.
func listeningSockets(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("list the agent's descriptors: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			out = append(out, table+" "+hexAddr(fs[1]))
		}
		f.Close()
	}
	return out
}

// hexAddr shows the port of a /proc/net/tcp address ("0100007F:1F90").
func hexAddr(a string) string {
	_, port, ok := strings.Cut(a, ":")
	if !ok {
		return a
	}
	n, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return a
	}
	return fmt.Sprintf("port %d", n)
}
