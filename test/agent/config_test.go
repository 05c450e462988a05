package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// TestBrokenConfig: a bad config stops the agent at once with one line per
// problem naming the file, the line and the key, and a non-zero exit (so
// Greengrass shows ERRORED with the reason in the component log).
func TestBrokenConfig(t *testing.T) {
	t.Parallel()
	const good = `device:
  thing_name: agent-test
sensors:
  bus: sim
  sim:
    speedup: 10
rois_file: rois.yaml
pipeline:
  window: 1s
spool:
  dir: ./spool
publishers:
  - type: file
    path: out.jsonl
http:
  listen: 127.0.0.1:0
`
	cases := []struct {
		name    string
		from    string // replaced in good
		to      string
		want    string // regexp the one error line must match
		wantKey string
	}{
		{"unknown key", "  window: 1s\n", "  window: 1s\n  windw: 2s\n", `agent\.yaml:10: pipeline\.windw: unknown key`, "pipeline.windw"},
		{"wrong type", "    speedup: 10\n", "    speedup: fast\n", `agent\.yaml:6: sensors\.sim\.speedup: `, "sensors.sim.speedup"},
		{"out of range", "    speedup: 10\n", "    speedup: 20000\n", `agent\.yaml:6: sensors\.sim\.speedup: .*out of range`, "sensors.sim.speedup"},
		{"unknown publisher type", "  - type: file\n    path: out.jsonl\n", "  - type: kafka\n", `agent\.yaml:13: publishers\[0\]\.type: `, "publishers[0].type"},
		{"unknown fault kind", "    speedup: 10\n", "    speedup: 10\n    faults:\n      - kind: gremlins\n", `agent\.yaml:8: sensors\.sim\.faults\[0\]\.kind: `, "sensors.sim.faults[0].kind"},
		{"negative size", "  dir: ./spool\n", "  dir: ./spool\n  max_bytes: -5\n", `agent\.yaml:12: spool\.max_bytes: `, "spool.max_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if !strings.Contains(good, tc.from) {
				t.Fatalf("bad case: %q not in the config", tc.from)
			}
			cfg := filepath.Join(dir, "agent.yaml")
			if err := os.WriteFile(cfg, []byte(strings.Replace(good, tc.from, tc.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			p := start(t, cfg, agenttest.Opts{})
			code := p.Wait(10 * time.Second)
			if code == 0 {
				t.Fatalf("exit code 0; want non-zero")
			}
			var problems []string
			for _, l := range strings.Split(p.Stderr.String(), "\n") {
				if strings.Contains(l, "agent.yaml:") {
					problems = append(problems, l)
				}
			}
			if len(problems) != 1 {
				t.Fatalf("want exactly one line naming agent.yaml:LINE, got %d:\n%s", len(problems), p.Stderr.String())
			}
			if !regexp.MustCompile(tc.want).MatchString(problems[0]) {
				t.Errorf("error line %q does not match %q", problems[0], tc.want)
			}
			if !strings.Contains(problems[0], tc.wantKey) {
				t.Errorf("error line %q does not name the key %s", problems[0], tc.wantKey)
			}
			if _, err := os.Stat(filepath.Join(dir, "spool")); err == nil {
				t.Errorf("the spool directory was created although the config is invalid")
			}
		})
	}
}
