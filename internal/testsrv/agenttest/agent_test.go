package agenttest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/promtest"
)

// childEnv makes the test binary play the agent: it serves /metrics, logs
// the status line like `stirling run` and exits 0 on SIGTERM.
const childEnv = "AGENTTEST_FAKE_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		fakeAgent()
		return
	}
	os.Exit(m.Run())
}

func fakeAgent() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE fake_scrapes_total counter\nfake_scrapes_total{path=\"/metrics\"} %d\n", n.Add(1))
	})
	go func() { _ = http.Serve(ln, mux) }()
	fmt.Printf("args %q\n", os.Args[1:])
	fmt.Fprintf(os.Stderr, "level=INFO msg=\"status page on http://%s/\"\n", ln.Addr())
	<-term
	fmt.Fprintln(os.Stderr, "level=INFO msg=stopped")
	os.Exit(0)
}

func startFake(t *testing.T) *Agent {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	return Start(t, os.Args[0], cfg, &Opts{Env: []string{childEnv + "=1"}, Args: []string{"--speedup", "5"}})
}

func TestAgentStartScrapeStop(t *testing.T) {
	a := startFake(t)
	a.WaitReady(10 * time.Second)
	if a.Addr == "" {
		t.Fatal("WaitReady left Addr empty")
	}
	a.Stdout.Wait(t, regexp.MustCompile(regexp.QuoteMeta(`args ["run" "--config"`)+`.*"--speedup" "5"`), 5*time.Second)
	m, err := a.WaitMetrics(5*time.Second, func(m promtest.Series) bool { return m[`fake_scrapes_total{path="/metrics"}`] >= 3 })
	if err != nil {
		t.Fatalf("WaitMetrics: %v (last %v)", err, m)
	}
	if code, body, err := a.Get("/nothing"); err != nil || code != http.StatusNotFound {
		t.Fatalf("Get = %d %q %v", code, body, err)
	}
	if err := a.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if a.Running() || a.Ended().Before(a.Started) {
		t.Fatalf("running %v, started %v, ended %v", a.Running(), a.Started, a.Ended())
	}
	if _, err := a.WaitMetrics(time.Second, func(promtest.Series) bool { return true }); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitMetrics after exit: %v, want ErrExited", err)
	}
}

func TestAgentKill(t *testing.T) {
	a := startFake(t)
	a.WaitReady(10 * time.Second)
	a.Kill()
	if a.Err() == nil {
		t.Fatal("no exit error after SIGKILL")
	}
}

func TestOutputWaitAndTail(t *testing.T) {
	var o Output
	go func() {
		time.Sleep(10 * time.Millisecond)
		fmt.Fprint(&o, "one\ntwo port=42\n")
	}()
	if m := o.Wait(t, regexp.MustCompile(`port=(\d+)`), 5*time.Second); m[1] != "42" {
		t.Fatalf("Wait = %q", m)
	}
	if got := Tail(o.String(), 8); got != "...port=42\n" {
		t.Fatalf("Tail = %q", got)
	}
}
