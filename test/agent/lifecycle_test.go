package agent

import (
	"os"
	"os/exec"
	"os/user"
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

// TestFatalStartupError: what the agent cannot work around at start exits
// non-zero at once, with the reason, so Greengrass marks the component
// ERRORED and the log says why.
func TestFatalStartupError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string, c config)
		want  string // substring of stderr
	}{
		{"spool dir is a file", func(t *testing.T, dir string, c config) {
			f := filepath.Join(dir, "not-a-dir")
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.set("spool.dir", f)
		}, "spool"},
		{"spool dir below a file", func(t *testing.T, dir string, c config) {
			f := filepath.Join(dir, "file")
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.set("spool.dir", filepath.Join(f, "spool"))
		}, "spool"},
		{"file publisher below a file", func(t *testing.T, dir string, c config) {
			f := filepath.Join(dir, "file")
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			c["publishers"] = []any{map[string]any{"type": "file", "path": filepath.Join(f, "out.jsonl")}}
		}, "agent.yaml:10: publishers[0].path: "}, // the start gate names the file, line and key
		{"hardware bus without I2C", func(t *testing.T, dir string, c config) {
			if _, err := os.Stat("/dev/i2c-1"); err == nil {
				t.Skip("this machine has /dev/i2c-1")
			}
			c.set("sensors.bus", "hardware")
		}, "I2C"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := baseConfig(dir, 10)
			tc.setup(t, dir, c)
			p := start(t, c.write(t, dir), agenttest.Opts{})
			if code := p.Wait(15 * time.Second); code != 1 {
				t.Fatalf("exit code %d; want 1\n%s", code, p.Stderr.String())
			}
			out := p.Stderr.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Errorf("the agent panicked:\n%s", out)
			}
		})
	}
}

// TestSIGTERM: SIGTERM stops the agent cleanly (exit 0) well inside the 5 s
// Greengrass allows before SIGKILL, and every reading collected up to the
// signal is in the spool: a later run delivers all of them to a new
// publisher.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := baseConfig(dir, 50)
	cfg := c.write(t, dir)
	p := start(t, cfg, agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	out := filepath.Join(dir, "out.jsonl")
	poll(t, 20*time.Second, "readings in the file publisher", func() (bool, string) {
		n := fileSize(out)
		return n > 2000, strconv.FormatInt(n, 10) + " bytes"
	})
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.Wait(10 * time.Second)
	took := p.Ended().Sub(sent)
	t.Logf("SIGTERM to exit: %v", took.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM; want 0", code)
	}
	if took >= 4*time.Second {
		t.Errorf("exit took %v after SIGTERM; want < 4s (Greengrass kills after 5 s)", took)
	}
	m := regexp.MustCompile(`msg="spool synced".* last_seq=(\d+)`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("no \"spool synced ... last_seq=N\" log line:\n%s", p.Stderr.String())
	}
	lastSeq, _ := strconv.ParseUint(m[1], 10, 64)
	if lastSeq == 0 {
		t.Fatal("last_seq=0: nothing was spooled")
	}
	recs, torn := readRecords(t, out)
	if torn > 0 {
		t.Errorf("%d torn lines in the file after a clean stop", torn)
	}
	var maxSeq uint64
	for _, r := range recs {
		maxSeq = max(maxSeq, r.Seq)
	}
	t.Logf("spooled up to seq %d, file publisher had %d by the signal", lastSeq, maxSeq)
	if maxSeq > lastSeq {
		t.Errorf("the file has seq %d beyond the spool's last_seq %d", maxSeq, lastSeq)
	}

	// A second publisher, new to the spool, starts at the oldest record and
	// must get every reading of the first run.
	check := filepath.Join(dir, "check.jsonl")
	c["publishers"] = []any{map[string]any{"type": "file", "name": "check", "path": check, "rotate_bytes": "1GiB"}}
	c.write(t, dir)
	p2 := start(t, cfg, agenttest.Opts{})
	p2.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "the first run's readings in a new publisher", func() (bool, string) {
		recs, _ := readRecords(t, check)
		var hi uint64
		for _, r := range recs {
			hi = max(hi, r.Seq)
		}
		return hi >= lastSeq, "up to seq " + strconv.FormatUint(hi, 10)
	})
	p2.Signal(syscall.SIGTERM)
	if code := p2.Wait(10 * time.Second); code != 0 {
		t.Errorf("second run: exit code %d after SIGTERM", code)
	}
	recs, _ = readRecords(t, check)
	seen := map[uint64]bool{}
	for _, r := range recs {
		seen[r.Seq] = true
	}
	var missing []uint64
	for s := uint64(1); s <= lastSeq; s++ {
		if !seen[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d readings of the first run never reached the new publisher (first missing: %d)", len(missing), missing[0])
	}
}

// TestStopAfter: --stop-after ends a run after that much sensor time with
// a clean shutdown and exit 0 (demos, CI); --http off serves no page.
func TestStopAfter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	started := time.Now()
	p := start(t, baseConfig(dir, 50).write(t, dir), agenttest.Opts{Args: []string{"--stop-after", "30s", "--http", "off"}})
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d; want 0", code)
	}
	took := time.Since(started)
	t.Logf("30s of sensor time at 50x in %v", took.Round(time.Millisecond))
	out := p.Stderr.String()
	if !strings.Contains(out, "stopping: --stop-after reached") {
		t.Errorf("no \"stopping: --stop-after reached\" line:\n%s", out)
	}
	if agenttest.StatusLine.MatchString(out) {
		t.Errorf("--http off still served the status page")
	}
	if took < 500*time.Millisecond {
		t.Errorf("stopped after %v; 30 s of sensor time at 50x is 600 ms", took)
	}
	if recs, _ := readRecords(t, filepath.Join(dir, "out.jsonl")); len(recs) == 0 {
		t.Errorf("no readings delivered")
	}
}

// TestNoGreengrassSocket: outside Greengrass the agent says so and uses the
// config file; a greengrass publisher in it is disabled with a clear line
// and the other publishers still deliver.
func TestNoGreengrassSocket(t *testing.T) {
	t.Parallel()
	const (
		unset   = `not running under Greengrass (no IPC socket in the environment): using the config file`
		missing = `Greengrass IPC socket is missing: using the config file`
	)
	noSocket := []string{"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=/nonexistent/ipc.socket", "SVCUID=test"}
	cases := []struct {
		name string
		env  []string
		gg   bool // a greengrass publisher in the config
		want string
	}{
		{"variable unset, greengrass publisher", nil, true, unset},
		{"socket missing, greengrass publisher", noSocket, true, missing},
		{"socket missing, file publisher only", noSocket, false, missing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := baseConfig(dir, 50)
			if tc.gg {
				c["publishers"] = []any{
					map[string]any{"type": "greengrass", "topic": "stirling/{thing}/telemetry"},
					map[string]any{"type": "file", "path": filepath.Join(dir, "out.jsonl")},
				}
			}
			p := start(t, c.write(t, dir), agenttest.Opts{Env: tc.env})
			p.Stderr.Wait(t, regexp.MustCompile(regexp.QuoteMeta(tc.want)), 10*time.Second)
			if tc.gg && tc.env == nil {
				p.Stderr.Wait(t, regexp.MustCompile(`level=ERROR[^\n]*greengrass publisher cannot deliver: not running under Greengrass`), 10*time.Second)
			}
			p.WaitReady(10 * time.Second)
			if tc.gg {
				// The publisher stays configured and says why it delivers nothing.
				poll(t, 30*time.Second, "greengrass publisher failing", func() (bool, string) {
					st, err := p.status()
					if err != nil {
						return false, err.Error()
					}
					for _, pub := range st.Publishers {
						if pub.Name == "greengrass" {
							return strings.HasPrefix(pub.State, "failing"), pub.State
						}
					}
					return false, "no greengrass publisher"
				})
			}
			out := filepath.Join(dir, "out.jsonl")
			poll(t, 20*time.Second, "readings in the file publisher", func() (bool, string) {
				recs, _ := readRecords(t, out)
				return len(recs) > 0, strconv.Itoa(len(recs)) + " readings"
			})
			p.Signal(syscall.SIGTERM)
			if code := p.Wait(10 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM; want 0", code)
			}
			if !tc.gg && strings.Contains(p.Stderr.String(), "greengrass publisher cannot deliver") {
				t.Errorf("greengrass publisher reported although none is configured")
			}
		})
	}
}

// TestPermissionDenied: a device the agent's user may not open stops it
// with an error that names the group to join and the usermod command, for
// the camera's I2C bus and the tachometer's GPIO chip. The agent runs as
// user nobody in a private mount namespace whose /dev is a tmpfs holding
// /dev/i2c-1 and /dev/gpiochip0 as files owned by root and two groups, mode
// 0660: a real EACCES from the kernel, and the host's /dev is not touched.
func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testsrv.RequireInCI(t, "needs root to run the agent as user nobody")
	}
	for _, tool := range []string{"unshare", "setpriv", "mount", "mknod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (util-linux) not found: %v", tool, err)
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	var groups []string
	for _, name := range []string{"i2c", "gpio", "dialout", "adm", "disk", "sys", "tty"} {
		if g, err := user.LookupGroup(name); err == nil && g.Gid != nobody.Gid {
			groups = append(groups, name)
		}
	}
	if len(groups) < 2 {
		t.Fatalf("need two groups to own the fake devices, found %v", groups)
	}
	i2cGroup, gpioGroup := groups[0], groups[1]

	// t.TempDir is 0700 and owned by root; nobody needs to get in.
	dir, err := os.MkdirTemp("", "stirling-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	c := baseConfig(dir, 1)
	c.set("sensors.bus", "hardware")
	c.set("sensors.thermal.i2c_bus", "1")
	c.set("sensors.tachometer.gpio_chip", "gpiochip0")
	c.set("http.listen", "")
	cfg := c.write(t, dir)

	script := strings.Join([]string{
		"set -e",
		"mount -t tmpfs -o mode=0755 stirling-test-dev /dev",
		"mknod -m 0666 /dev/null c 1 3",
		"touch /dev/i2c-1 /dev/gpiochip0",
		"chmod 0660 /dev/i2c-1 /dev/gpiochip0",
		"chgrp " + i2cGroup + " /dev/i2c-1",
		"chgrp " + gpioGroup + " /dev/gpiochip0",
		`exec setpriv --reuid=nobody --regid=` + nobody.Gid + ` --clear-groups "$@"`,
	}, "\n")
	p := start(t, cfg, agenttest.Opts{Wrap: []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}})
	code := p.Wait(15 * time.Second)
	if errs := p.Stderr.String(); !strings.Contains(errs, "level=") && (strings.Contains(errs, "unshare:") || strings.Contains(errs, "mount:") || strings.Contains(errs, "mknod:")) {
		t.Fatalf("cannot set up the private /dev (the test needs root with CAP_SYS_ADMIN for unshare --mount): %s", errs)
	}
	if code != 1 {
		t.Fatalf("exit code %d; want 1\n%s", code, p.Stderr.String())
	}
	out := p.Stderr.String()
	for _, want := range []string{
		"/dev/i2c-1: permission denied",
		`user "nobody" is not in group "` + i2cGroup + `"`,
		"sudo usermod -aG " + i2cGroup + " nobody",
		"/dev/gpiochip0: permission denied",
		`user "nobody" is not in group "` + gpioGroup + `"`,
		"sudo usermod -aG " + gpioGroup + " nobody",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "running as root") {
		t.Errorf("the agent thinks it runs as root")
	}
}
