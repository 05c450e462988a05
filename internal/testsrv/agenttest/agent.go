package agenttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/promtest"
)

// ErrExited is returned by WaitMetrics when the agent exits while it waits.
var ErrExited = errors.New("agenttest: the agent exited")

// Opts tweak how Start runs the agent.
type Opts struct {
	// Args are extra arguments after `run --config FILE`.
	Args []string
	// Env is extra environment (KEY=value). The Greengrass variables of
	// the test's own environment (AWS_GG_*, SVCUID, AWS_IOT_THING_NAME) are
	// always cleared, so that only Env can put the agent under Greengrass.
	Env []string
	// Credential runs the agent as another user.
	Credential *syscall.Credential
	// Wrap is a command that execs the agent: Wrap... BIN run --config FILE.
	Wrap []string
	// Addr is the status server's host:port when the test chose it (--http
	// or http.listen); else WaitReady reads it from the agent's log.
	Addr string
}

// Agent is one running `stirling run`, stopped (SIGKILL) when the test
// ends. When the test failed, the end of its stderr is logged.
type Agent struct {
	Cmd     *exec.Cmd
	Stderr  *Output
	Stdout  *Output
	Addr    string    // status server host:port: Opts.Addr, or set by WaitReady
	Started time.Time // when the process started

	t     testing.TB
	done  chan struct{}
	err   error     // Wait's result, once done
	ended time.Time // when it exited, once done
}

// Start runs `bin run --config config` in config's directory and returns
// at once.
func Start(t testing.TB, bin, config string, o *Opts) *Agent {
	t.Helper()
	if o == nil {
		o = &Opts{}
	}
	args := append([]string{bin, "run", "--config", config}, o.Args...)
	args = append(append([]string(nil), o.Wrap...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = filepath.Dir(config)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_GG_") && !strings.HasPrefix(kv, "SVCUID=") && !strings.HasPrefix(kv, "AWS_IOT_THING_NAME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, o.Env...)
	a := &Agent{Cmd: cmd, Stderr: &Output{}, Stdout: &Output{}, Addr: o.Addr, t: t, done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = a.Stderr, a.Stdout
	if o.Credential != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.Credential}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("agenttest: start %s: %v", bin, err)
	}
	a.Started = time.Now()
	go func() {
		a.err = cmd.Wait()
		a.ended = time.Now()
		close(a.done)
	}()
	t.Cleanup(func() {
		if a.Running() {
			_ = cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent pid %d stderr:\n%s", cmd.Process.Pid, Tail(a.Stderr.String(), 6000))
		}
	})
	return a
}

// StatusLine matches the log line that announces the status server, with
// its host:port as the first submatch.
var StatusLine = regexp.MustCompile(`status page on http://([^/\s]+)/`)

// WaitReady waits up to d for the agent to log its status server's address
// and sets Addr.
func (a *Agent) WaitReady(d time.Duration) {
	a.t.Helper()
	m := a.Stderr.Wait(a.t, StatusLine, d)
	a.Addr = m[1]
}

// Done is closed when the process has exited.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Running reports whether the process has not exited yet.
func (a *Agent) Running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// Err is the process's exit error (nil for exit code 0) once Done is
// closed.
func (a *Agent) Err() error {
	<-a.done
	return a.err
}

// Ended is when the process exited, once Done is closed.
func (a *Agent) Ended() time.Time {
	<-a.done
	return a.ended
}

// Signal sends sig to the agent.
func (a *Agent) Signal(sig syscall.Signal) {
	a.t.Helper()
	if err := a.Cmd.Process.Signal(sig); err != nil {
		a.t.Fatalf("agenttest: signal %v: %v", sig, err)
	}
}

// Wait waits up to d for the process to exit and returns its exit code
// (-1 when a signal killed it).
func (a *Agent) Wait(d time.Duration) int {
	a.t.Helper()
	select {
	case <-a.done:
	case <-time.After(d):
		a.t.Fatalf("agent still running after %v; stderr:\n%s", d, Tail(a.Stderr.String(), 4000))
	}
	var ee *exec.ExitError
	switch {
	case a.err == nil:
		return 0
	case errors.As(a.err, &ee):
		return ee.ExitCode()
	default:
		a.t.Fatalf("agenttest: wait: %v", a.err)
		return -2
	}
}

// Kill SIGKILLs the agent and waits for it; the test fails unless the
// SIGKILL is what ended it.
func (a *Agent) Kill() {
	a.t.Helper()
	a.Signal(syscall.SIGKILL)
	if code := a.Wait(5 * time.Second); code != -1 {
		a.t.Fatalf("after SIGKILL the exit code is %d; want -1 (killed)", code)
	}
}

// Stop sends SIGTERM and waits up to d for the agent to exit, returning
// its exit error (nil for a clean exit). An agent still running after d is
// SIGKILLed and Stop returns an error.
func (a *Agent) Stop(d time.Duration) error {
	if !a.Running() {
		return a.err
	}
	_ = a.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return a.err
	case <-time.After(d):
		_ = a.Cmd.Process.Kill()
		<-a.done
		return fmt.Errorf("agenttest: the agent did not exit within %v of SIGTERM", d)
	}
}

// Get fetches path from the status server, with a 2 s timeout.
func (a *Agent) Get(path string) (code int, body string, err error) {
	if a.Addr == "" {
		return 0, "", errors.New("agenttest: status server address not known yet")
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + a.Addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Metrics scrapes /metrics (2 s at most) and returns its series and the
// page as text.
func (a *Agent) Metrics(ctx context.Context) (promtest.Series, string, error) {
	if a.Addr == "" {
		return nil, "", errors.New("agenttest: status server address not known yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return promtest.Scrape(ctx, nil, "http://"+a.Addr+"/metrics")
}

// WaitMetrics scrapes /metrics every 20 ms until cond holds for a scrape,
// and returns that scrape. After timeout, or when the agent exits
// (ErrExited), it returns the last scrape with an error.
func (a *Agent) WaitMetrics(timeout time.Duration, cond func(promtest.Series) bool) (promtest.Series, error) {
	deadline := time.Now().Add(timeout)
	var last promtest.Series
	var lastErr error
	for time.Now().Before(deadline) {
		if !a.Running() {
			return last, fmt.Errorf("%w: %v", ErrExited, a.err)
		}
		m, _, err := a.Metrics(context.Background())
		if err == nil {
			last = m
			if cond(m) {
				return m, nil
			}
		} else {
			lastErr = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last == nil {
		return nil, fmt.Errorf("agenttest: /metrics never answered: %w", lastErr)
	}
	return last, fmt.Errorf("agenttest: condition not met after %v", timeout)
}

// Output collects a process's output. It is safe for concurrent use; the
// zero value is ready.
type Output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{} // closed and replaced on every write
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.added != nil {
		close(o.added)
		o.added = nil
	}
	return len(p), nil
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Wait blocks until re matches the output and returns the match and its
// submatches, or fails the test after d.
func (o *Output) Wait(t testing.TB, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		o.mu.Lock()
		m := re.FindStringSubmatch(o.buf.String())
		if o.added == nil {
			o.added = make(chan struct{})
		}
		ch := o.added
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no output matching %q within %v; output:\n%s", re, d, Tail(o.String(), 4000))
			return nil
		}
	}
}

// Tail is the last n bytes of s, marked with "..." when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
