package agent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/ipctest"
)

// TestGreengrassLateNucleus: the nucleus's IPC socket is not there when the
// agent starts (the nucleus restarting, say). The greengrass publisher must
// stay configured: it shows on the status page and /metrics as failing,
// its readings wait in the spool, and once the nucleus listens the backlog
// is delivered from the first reading on. It used to be dropped for the
// life of the process.
func TestGreengrassLateNucleus(t *testing.T) {
	t.Parallel()
	const token = "svcuid-late"
	nucleus := ipctest.New(t, token)
	nucleus.Stop() // the socket is gone until Start
	dir := t.TempDir()
	c := baseConfig(dir, 50)
	c["publishers"] = []any{
		map[string]any{"type": "greengrass", "topic": "dt/stirling/{thing}/telemetry"},
		map[string]any{"type": "file", "path": filepath.Join(dir, "out.jsonl")},
	}
	p := start(t, c.write(t, dir), agenttest.Opts{Env: []string{
		"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=" + nucleus.Path,
		"SVCUID=" + token,
	}})
	p.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "greengrass publisher failing on /api/status", func() (bool, string) {
		st, err := p.status()
		if err != nil {
			return false, err.Error()
		}
		for _, pub := range st.Publishers {
			if pub.Name == "greengrass" {
				return strings.HasPrefix(pub.State, "failing"), fmt.Sprintf("state %q, lag %d", pub.State, pub.LagRecords)
			}
		}
		return false, fmt.Sprintf("no greengrass publisher in %+v", st.Publishers)
	})
	_, raw, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`stirling_publisher_state\{publisher="greengrass",state="failing[^"]*"\} 1`).MatchString(raw) {
		t.Errorf("/metrics does not show the greengrass publisher failing:\n%s", grepLines(raw, "publisher_state"))
	}
	if len(nucleus.Publishes()) != 0 {
		t.Fatal("publishes before the nucleus listens")
	}
	if err := nucleus.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	poll(t, 60*time.Second, "the backlog from seq 1 delivered to the late nucleus", func() (bool, string) {
		seqs := map[uint64]bool{}
		for _, pub := range nucleus.Publishes() {
			var rs []record
			if json.Unmarshal(pub.Payload, &rs) == nil {
				for _, r := range rs {
					seqs[r.Seq] = true
				}
			}
		}
		return seqs[1], fmt.Sprintf("%d publishes, %d readings", len(nucleus.Publishes()), len(seqs))
	})
	t.Logf("backlog reached the nucleus %v after it started listening", time.Since(started).Round(time.Millisecond))
	poll(t, 30*time.Second, "greengrass publisher idle or delivering", func() (bool, string) {
		st, err := p.status()
		if err != nil {
			return false, err.Error()
		}
		for _, pub := range st.Publishers {
			if pub.Name == "greengrass" {
				return !strings.HasPrefix(pub.State, "failing") && !strings.HasPrefix(pub.State, "backoff"), pub.State
			}
		}
		return false, "no greengrass publisher"
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
	if v := nucleus.Violations(); len(v) > 0 {
		t.Errorf("IPC protocol violations: %v", v)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if strings.Contains(ln, substr) {
			out = append(out, ln)
		}
	}
	return strings.Join(out, "\n")
}
