// Package mosquittotest runs a real mosquitto broker for tests: on a free
// loopback port, with mutual TLS and client-certificate authentication, from
// certificates generated in the test (internal/testsrv/tlstest). It also provides a
// subscriber that records every message, and a TCP proxy that can take the
// network away and give it back.
//
// The broker follows the rules in the toolchain notes: its own config file
// (never /etc/mosquitto), no daemon mode, `user root` when the test runs as
// root, persistence off, max_queued_messages 0 (no drops to slow
// subscribers), and readiness is the "mosquitto version X running" log line,
// not a TCP connect.
package mosquittotest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv"
	"github.com/stirling-iot/stirling/internal/testsrv/tlstest"
)

// Opts configures Start. The zero value is fine.
type Opts struct {
	// Certs are the CA, server and client certificates. Nil generates new ones.
	Certs *tlstest.Certs
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
}

// Broker is a running (or stopped) mosquitto child process.
type Broker struct {
	Addr  string // "127.0.0.1:port"
	Port  int
	Certs *tlstest.Certs

	t    testing.TB
	bin  string
	conf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when the current process exits
	log  strings.Builder
	subs []*Sub
}

// Binary returns the path of the mosquitto executable. When it is missing the
// test fails under CI=true and is skipped otherwise.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	testsrv.RequireInCI(t, "mosquittotest: mosquitto not installed (run scripts/deps.sh)")
	return ""
}

// Start starts mosquitto and waits until it is ready. The broker is stopped
// when the test ends.
func Start(t testing.TB, opts *Opts) *Broker {
	t.Helper()
	if opts == nil {
		opts = &Opts{}
	}
	b := &Broker{t: t, bin: Binary(t), Certs: opts.Certs, Port: opts.Port}
	if b.Certs == nil {
		b.Certs = tlstest.New(t)
	}
	if b.Port == 0 {
		b.Port = FreePort(t)
	}
	b.Addr = fmt.Sprintf("127.0.0.1:%d", b.Port)
	b.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", b.Port)
	conf.WriteString("persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	// Without TCP_NODELAY the broker holds small PUBACKs behind Nagle
	// until the client's delayed ACK (~40 ms stalls with many in flight).
	conf.WriteString("max_queued_messages 0\nmax_inflight_messages 100\nset_tcp_nodelay true\n")
	fmt.Fprintf(&conf, "cafile %s\ncertfile %s\nkeyfile %s\n", b.Certs.CAFile, b.Certs.ServerCert, b.Certs.ServerKey)
	conf.WriteString("require_certificate true\nuse_identity_as_username true\n")
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n")
	}
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("mosquittotest: write config: %v", err)
	}
	b.start()
	t.Cleanup(b.Stop)
	return b
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mosquittotest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// URL is the broker address in paho form (tls://127.0.0.1:port).
func (b *Broker) URL() string { return "tls://" + b.Addr }

func (b *Broker) start() {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 0; ; attempt++ {
		err := b.startOnce()
		if err == nil {
			return
		}
		// A port just released by the previous process can still be busy
		// for a moment; anything else is fatal.
		if !strings.Contains(err.Error(), "Address already in use") || time.Now().After(deadline) {
			b.t.Fatalf("mosquittotest: %v\nlog:\n%s", err, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *Broker) startOnce() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.bin, err)
	}
	ready := make(chan struct{})
	exit := make(chan struct{})
	var lines strings.Builder
	var linesMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.log.WriteString(line)
			b.log.WriteByte('\n')
			b.mu.Unlock()
			linesMu.Lock()
			lines.WriteString(line + "\n")
			linesMu.Unlock()
			if strings.Contains(line, "mosquitto version") && strings.HasSuffix(line, "running") {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
		close(exit)
	}()
	select {
	case <-ready:
		b.mu.Lock()
		b.cmd, b.exit = cmd, exit
		b.mu.Unlock()
		return nil
	case <-exit:
		linesMu.Lock()
		defer linesMu.Unlock()
		return fmt.Errorf("mosquitto exited during start-up: %s", strings.TrimSpace(lines.String()))
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
		return fmt.Errorf("mosquitto not ready after 10 s")
	}
}

// Stop terminates the broker (SIGTERM, then SIGKILL after 5 s). Stopping a
// stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, exit := b.cmd, b.exit
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
	}
}

// Running reports whether the broker process is up.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exit:
		return false
	default:
		return true
	}
}

// Restart starts the broker again on the same port (stopping it first if it
// runs) and waits until every subscriber made with Subscribe has
// resubscribed. Persistence is off, so sessions and queued messages are gone:
// publishers that must not race the subscribers should connect through a
// Proxy held Down until Restart returns.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.mu.Lock()
	subs := append([]*Sub(nil), b.subs...)
	gens := make([]int, len(subs))
	for i, s := range subs {
		gens[i] = s.generation()
	}
	b.mu.Unlock()
	b.start()
	for i, s := range subs {
		s.waitGeneration(b.t, gens[i]+1, 10*time.Second)
	}
}

// Log returns everything the broker logged so far (all processes).
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// WaitLog waits until the broker log contains s.
func (b *Broker) WaitLog(ctx context.Context, s string) error {
	for {
		if strings.Contains(b.Log(), s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mosquittotest: log line %q: %w", s, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
