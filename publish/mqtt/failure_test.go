package mqtt

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/internal/testsrv/publishtest"
	"github.com/stirling-iot/stirling/internal/testsrv/tlstest"
	"github.com/stirling-iot/stirling/publish"
)

// lineLog collects log lines (concurrency-safe).
type lineLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// warnings returns the lines at WARN or above.
func (l *lineLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(ln, "level=WARN") || strings.Contains(ln, "level=ERROR") || strings.Contains(ln, "level=INFO") {
			out = append(out, ln)
		}
	}
	return out
}

// connackServer is a TLS listener that answers every CONNECT with a CONNACK
// carrying rc and then closes the connection: a broker that refuses the
// client's credentials (4) or authorisation (5).
func connackServer(t *testing.T, certs *tlstest.Certs, rc byte) (addr string, connects func() int) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certs.ServerCert, certs.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				if h, err := r.ReadByte(); err != nil || h>>4 != 1 { // CONNECT
					return
				}
				size, mult := 0, 1
				for {
					b, err := r.ReadByte()
					if err != nil {
						return
					}
					size += int(b&0x7f) * mult
					mult *= 128
					if b&0x80 == 0 {
						break
					}
				}
				if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
					return
				}
				mu.Lock()
				n++
				mu.Unlock()
				_, _ = c.Write([]byte{0x20, 0x02, 0x00, rc})
				time.Sleep(50 * time.Millisecond)
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestConnackRefusalKeepsData: a broker that refuses the CONNECT with "not
// authorized" (5) or "bad user name or password" (4). The readings stay in
// the spool and nothing is quarantined; the publisher shows failing:
// unauthorized with the broker's answer as last_error (it used to say only
// "not connected"), and the client backs off instead of reconnecting in a
// tight loop.
func TestConnackRefusalKeepsData(t *testing.T) {
	certs := tlstest.New(t)
	for _, tt := range []struct {
		name  string
		rc    byte
		cause string
	}{
		{"not authorized", 5, "not authorized"},
		{"bad username or password", 4, "bad user name or password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, connects := connackServer(t, certs, tt.rc)
			p, err := New(&Opts{Endpoint: addr, Thing: "pi-01", CertFile: certs.ClientCert, KeyFile: certs.ClientKey, CAFile: certs.CAFile, MaxRate: -1, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			rig := publishtest.Start(t, p, 3, 4, publish.RunnerOpts{})
			st := rig.WaitState(t, 30*time.Second, "failing: unauthorized", func(st publish.RunnerStats) bool {
				return st.State == publish.StateFailing && strings.Contains(st.Reason, "unauthorized")
			})
			if !strings.Contains(strings.ToLower(st.LastError), tt.cause) {
				t.Errorf("last_error %q does not carry the broker's answer %q", st.LastError, tt.cause)
			}
			rig.CheckKept(t, 3)
			// Backoff from 1 s: within the first 3 s at most 3 attempts.
			time.Sleep(3 * time.Second)
			if n := connects(); n > 4 {
				t.Errorf("%d CONNECTs within about 3 s of a refusal: no backoff", n)
			}
		})
	}
}

// TestUnreachableBrokerLogLines counts the log lines a publisher and its
// runner write while the broker refuses TCP connections, in the 10 s after
// the first 5 s (when the state has settled: the runner turns failing after
// 5 attempts, about 3 s), and extrapolates to a minute.
// The old client warned on every attempt, 125-250 ms apart: about 300 lines
// a minute. STIRLING_LOGLINES_WINDOW=3m measures longer (the reminders).
func TestUnreachableBrokerLogLines(t *testing.T) {
	certs := tlstest.New(t)
	addr := "127.0.0.1:" + itoa(mosquittotest.FreePort(t)) // nothing listens
	var logs lineLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := New(&Opts{Endpoint: addr, Thing: "pi-01", CertFile: certs.ClientCert, KeyFile: certs.ClientKey, CAFile: certs.CAFile, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	// The runner logs to the same place, as in the agent.
	rig := publishtest.StartLogged(t, p, 1, 1, publish.RunnerOpts{}, log)
	time.Sleep(5 * time.Second)
	before, attemptsBefore := len(logs.warnings()), p.Stats().ConnectFailures
	window := 10 * time.Second
	if w, err := time.ParseDuration(os.Getenv("STIRLING_LOGLINES_WINDOW")); err == nil && w > 0 {
		window = w // a longer measurement, e.g. 3m to see the reminders
	}
	time.Sleep(window)
	lines, attempts := logs.warnings()[before:], p.Stats().ConnectFailures-attemptsBefore
	perMin := float64(len(lines)) * float64(time.Minute) / float64(window)
	t.Logf("broker refusing TCP: %d log lines and %d connection attempts in %v after the first 5 s: %.0f lines/minute; first 5 s: %d lines; last_error %q",
		len(lines), attempts, window, perMin, before, p.Stats().LastError)
	if perMin > 6 {
		t.Errorf("%.0f log lines a minute with the broker away, want at most one reminder a minute:\n%s", perMin, strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
	if !strings.Contains(rig.Runner.Stats().LastError, "connection refused") {
		t.Errorf("runner last_error %q, want the dial error", rig.Runner.Stats().LastError)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestReconnectDelayAfterLongOutage: the network is away long enough for
// the connection backoff to reach its cap (MaxReconnectInterval, 1 s), then
// comes back. The backlog must start arriving within the cap plus a margin
// for a loaded machine, and the publisher's log must show one failure line,
// not one per attempt.
func TestReconnectDelayAfterLongOutage(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	px := mosquittotest.NewProxy(t, b.Addr)
	var logs lineLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := New(&Opts{Endpoint: px.Addr, Thing: "pi-01", CertFile: b.Certs.ClientCert, KeyFile: b.Certs.ClientKey, CAFile: b.Certs.CAFile, MaxRate: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	sub := b.Subscribe(t, p.Topic())
	waitReady(t, p, 10*time.Second)
	px.Down()
	const outage = 12 * time.Second
	rig := publishtest.Start(t, p, 5, 4, publish.RunnerOpts{})
	time.Sleep(outage)
	attempts := p.Stats().ConnectFailures
	upAt := px.Up()
	msgs := sub.WaitFor(t, 20*time.Second, func(m []mosquittotest.Message) bool { return len(m) > 0 })
	delay := msgs[0].At.Sub(upAt)
	rig.WaitState(t, 20*time.Second, "backlog delivered", func(st publish.RunnerStats) bool { return st.Delivered == 20 })
	var failLines int
	for _, ln := range logs.warnings() {
		if strings.Contains(ln, "connect failing") || strings.Contains(ln, "still failing to connect") {
			failLines++
		}
	}
	t.Logf("outage %v: %d connection attempts, %d failure log lines; first message %v after the network came back", outage, attempts, failLines, delay.Round(time.Millisecond))
	if delay > 2500*time.Millisecond {
		t.Errorf("first message %v after the network came back, want within about the 1 s backoff cap", delay)
	}
	if failLines > 2 {
		t.Errorf("%d connect failure lines during a %v outage, want 1", failLines, outage)
	}
}
