package status

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/webguard"
)

// runServer runs srv until the test ends and returns its address.
func runServer(t *testing.T, srv *Server) string {
	t.Helper()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv.Addr()
}

// fetch GETs path from addr with the given Host header (empty: the address).
func fetch(t *testing.T, addr, host, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestStatusHostAllowlist: a page on a rebound name reads nothing from
// the status server; the loopback names and the listen address do.
func TestStatusHostAllowlist(t *testing.T) {
	addr := runServer(t, newTestServer(t, newFakeSource(time.Second), nil))
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		host, path string
		code       int
	}{
		{"attacker.example:" + port, "/api/status", http.StatusMisdirectedRequest},
		{"attacker.example", "/api/frame", http.StatusMisdirectedRequest},
		{"attacker.example:" + port, "/events", http.StatusMisdirectedRequest},
		{"127.0.0.1.attacker.example:" + port, "/metrics", http.StatusMisdirectedRequest},
		{"127.0.0.1:" + port, "/api/status", http.StatusOK},
		{"localhost:" + port, "/healthz", http.StatusOK},
		{"localhost", "/api/status", http.StatusOK},
		{"LocalHost:" + port, "/api/status", http.StatusOK},
	}
	for _, tc := range tests {
		resp, body := fetch(t, addr, tc.host, tc.path)
		if resp.StatusCode != tc.code {
			t.Errorf("Host %s %s: %d %q; want %d", tc.host, tc.path, resp.StatusCode, body, tc.code)
		}
		checkSecurityHeaders(t, tc.host+tc.path, resp.Header)
	}
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
}

// TestStatusSecurityHeaders: every path carries the headers.
func TestStatusSecurityHeaders(t *testing.T) {
	addr := runServer(t, newTestServer(t, newFakeSource(time.Second), nil))
	for _, p := range []string{"/", "/app.js", "/style.css", "/metrics", "/healthz", "/api/status", "/api/frame", "/api/ramp", "/nope"} {
		resp, _ := fetch(t, addr, "", p)
		checkSecurityHeaders(t, p, resp.Header)
	}
}

// openStream opens /events on a fresh connection and returns the response.
func openStream(t *testing.T, addr string) (*http.Response, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/events", nil)
	return c.Do(req)
}

// TestEventClientCap: beyond the cap, /events answers 503 with
// Retry-After at once, and the refusal is counted on /metrics; a slot that
// frees up is usable again.
func TestEventClientCap(t *testing.T) {
	addr := runServer(t, newTestServer(t, newFakeSource(100*time.Millisecond), nil))
	const capacity = 16 // the default
	var open []*http.Response
	for i := range capacity {
		resp, err := openStream(t, addr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d; want 200 below the cap", i, resp.StatusCode)
		}
		readEvent(t, bufio.NewReader(resp.Body))
		open = append(open, resp)
	}
	for i := range 3 {
		resp, err := openStream(t, addr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("stream %d over the cap: %d, Retry-After %q; want 503 with Retry-After", capacity+i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	_, body := fetch(t, addr, "", "/metrics")
	if !strings.Contains(body, `stirling_http_refused_total{reason="event_streams"} 3`) {
		t.Fatalf("/metrics does not count 3 refused streams:\n%s", grepLines(body, "refused"))
	}
	open[0].Body.Close()
	var err error
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var resp *http.Response
		if resp, err = openStream(t, addr); err == nil {
			ok := resp.StatusCode == http.StatusOK
			if !ok {
				resp.Body.Close()
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
				continue
			}
			open[0] = resp
			break
		}
	}
	if err != nil {
		t.Fatalf("no stream after one was closed: %v", err)
	}
	for _, r := range open {
		r.Body.Close()
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestConnectionCap: idle connections beyond the cap are answered (503)
// and closed at once instead of being held; they are counted, and the
// server serves again once the idle ones are gone.
func TestConnectionCap(t *testing.T) {
	addr := runServer(t, newTestServer(t, newFakeSource(time.Second), nil))
	const capacity, dials = 64, 300 // the default cap
	var mu sync.Mutex
	held, refused := 0, 0
	var conns []net.Conn
	var wg sync.WaitGroup
	for range dials {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Go(func() {
			// A held connection gets nothing until the header timeout; a
			// refused one is answered and closed at once.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(c)
			mu.Lock()
			defer mu.Unlock()
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && len(b) == 0:
				held++
			case err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(fmt.Sprint(err), "reset"):
				if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 503") {
					t.Errorf("refused connection got %q", b)
				}
				refused++
			default:
				t.Errorf("read: %v", err)
			}
		})
	}
	wg.Wait()
	if held > capacity || refused < dials-capacity {
		t.Fatalf("%d connections held, %d refused; want at most %d held", held, refused, capacity)
	}
	for _, c := range conns {
		c.Close()
	}
	var body string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			body = string(b)
			break
		}
	}
	want := fmt.Sprintf(`stirling_http_refused_total{reason="connections"} %d`, refused)
	if !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %q:\n%s", want, grepLines(body, "refused"))
	}
	t.Logf("%d dials: %d held, %d refused", dials, held, refused)
}

// TestROIColoursMatch: the table's region colours (classes in style.css,
// since the CSP allows no inline style) are the ones heatmap.js draws.
func TestROIColoursMatch(t *testing.T) {
	js, css := string(HeatmapJS()), string(StyleCSS())
	m := regexp.MustCompile(`ROI_COLOURS = \{([^}]*)\}`).FindStringSubmatch(js)
	if m == nil {
		t.Fatal("heatmap.js: no ROI_COLOURS")
	}
	pairs := regexp.MustCompile(`(\w+): "(#[0-9a-f]{6})"`).FindAllStringSubmatch(m[1], -1)
	if len(pairs) != 3 {
		t.Fatalf("ROI_COLOURS %q: want 3 regions", m[1])
	}
	for _, p := range pairs {
		want := fmt.Sprintf("td.roi-%s { color: %s; }", p[1], p[2])
		if !strings.Contains(css, want) {
			t.Errorf("style.css lacks %q", want)
		}
	}
}

// TestStatusAllowHost: http.allow_hosts names are served; a bad entry
// stops the server before it listens.
func TestStatusAllowHost(t *testing.T) {
	srv := New(newFakeSource(time.Second), &Opts{Addr: "127.0.0.1:0", AllowHosts: []string{"pi-01.example"}, Logger: slog.New(slog.DiscardHandler)})
	addr := runServer(t, srv)
	_, port, _ := net.SplitHostPort(addr)
	if resp, body := fetch(t, addr, "pi-01.example:"+port, "/api/status"); resp.StatusCode != http.StatusOK {
		t.Fatalf("allowed name: %d %.200q", resp.StatusCode, body)
	}
	resp, body := fetch(t, addr, "pi-02.example:"+port, "/api/status")
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "http.allow_hosts") {
		t.Fatalf("other name: %d %.200q; want 421 naming http.allow_hosts", resp.StatusCode, body)
	}
	_, metrics := fetch(t, addr, "", "/metrics")
	if !strings.Contains(metrics, `stirling_http_refused_total{reason="host"} 1`) {
		t.Fatalf("/metrics does not count the refused host:\n%s", grepLines(metrics, "refused"))
	}
	bad := New(newFakeSource(time.Second), &Opts{Addr: "127.0.0.1:0", AllowHosts: []string{"pi 02"}})
	if err := bad.Listen(); !errors.Is(err, webguard.ErrBadHost) {
		t.Fatalf("Listen with a bad allow_hosts entry: %v; want ErrBadHost", err)
	}
}
