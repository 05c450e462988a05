package calibrate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/internal/webguard"
	"github.com/stirling-iot/stirling/sensors"
)

// sceneSource serves the bench scene with a new sequence number every
// 50 ms.
type sceneSource struct{ n atomic.Uint64 }

func (s *sceneSource) Next(ctx context.Context, dst *sensors.Frame) error {
	if s.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	*dst = *benchScene().render()
	dst.Seq = s.n.Add(1)
	dst.Time = time.Now()
	return nil
}

// startServer runs a calibration server on a free port until the test ends;
// saves go to the returned path.
func startServer(t *testing.T, token string) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rois.yaml")
	s := NewServer(&ServerOpts{
		Addr:   "127.0.0.1:0",
		Token:  token,
		Source: &sceneSource{},
		ROIs:   goodROIs(),
		Save: func(_ context.Context, r sensors.ROIs) (string, error) {
			if _, err := Save(path, r, &SaveOpts{Logger: slog.New(slog.DiscardHandler)}); err != nil {
				return "", err
			}
			return "saved to " + path, nil
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitFrame(t, s)
	return s, path
}

func waitFrame(t *testing.T, s *Server) {
	t.Helper()
	var f sensors.Frame
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if s.Frame(&f) {
			return
		}
	}
	t.Fatal("no frame within 5s")
}

func TestServerAPI(t *testing.T) {
	s, path := startServer(t, "")
	base := "http://" + s.Addr()
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"page", "GET", "/", "", 200, "stirling calibrate"},
		{"script", "GET", "/calibrate.js", "", 200, "api/save"},
		{"heatmap script", "GET", "/heatmap.js", "", 200, "StirlingHeatmap"},
		{"frame", "GET", "/api/frame", "", 200, `"width":32`},
		{"rois", "GET", "/api/rois", "", 200, `"hot_cylinder":{"x":9`},
		{"suggest", "GET", "/api/suggest", "", 200, `"cold_cylinder":{"x":20,"y":5,"w":7,"h":8}`},
		{"save out of frame", "POST", "/api/save", `{"hot_cylinder":{"x":9,"y":4,"w":7,"h":9},"cold_cylinder":{"x":28,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}`, 400, "leaves the 32x24 frame"},
		{"save overlapping", "POST", "/api/save", `{"hot_cylinder":{"x":9,"y":4,"w":7,"h":9},"cold_cylinder":{"x":12,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}`, 400, "hot_cylinder and cold_cylinder overlap"},
		{"save empty", "POST", "/api/save", `{"hot_cylinder":{"x":9,"y":4,"w":0,"h":9},"cold_cylinder":{"x":20,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}`, 400, "is empty"},
		{"save unknown key", "POST", "/api/save", `{"hot":{}}`, 400, "unknown field"},
		{"save", "POST", "/api/save", `{"hot_cylinder":{"x":9,"y":4,"w":7,"h":9},"cold_cylinder":{"x":21,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}`, 200, "saved to"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s; want %d with %q", resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
	got, err := LoadROIs(path)
	if err != nil || got.ColdCylinder.X != 21 || s.ROIs() != got {
		t.Fatalf("saved %+v %v, server has %+v", got, err, s.ROIs())
	}
}

func TestServerToken(t *testing.T) {
	s, _ := startServer(t, "s3cret")
	base := "http://" + s.Addr()
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tests := []struct {
		name, path string
		code       int
	}{
		{"no token", "/", 401},
		{"wrong token", "/?token=nope", 401},
		{"api without token", "/api/frame", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{CheckRedirect: noRedirect}
			resp, err := c.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
	// The token URL sets a cookie that opens everything afterwards (it
	// works once: TestServerTokenOneTime).
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(s.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
		t.Fatalf("after token URL: %d %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = c.Get(base + "/api/frame")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("frame with cookie: %d", resp.StatusCode)
	}
	if !strings.Contains(s.URL("pi.local"), "token=s3cret") {
		t.Fatal(s.URL("pi.local"))
	}
}

func TestServerCrossOriginSave(t *testing.T) {
	s, _ := startServer(t, "")
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/api/save", strings.NewReader(`{}`))
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("code %d", resp.StatusCode)
	}
}

// agentSource is a status.Source serving the bench scene.
type agentSource struct{ n atomic.Uint64 }

func (a *agentSource) Snapshot() status.Snapshot { return status.Snapshot{} }
func (a *agentSource) Frame(dst *sensors.Frame) bool {
	*dst = *benchScene().render()
	dst.Seq = a.n.Add(1) / 3 // a new frame every third call
	return true
}
func (a *agentSource) ROIs() sensors.ROIs { return goodROIs() }

func TestHTTPSource(t *testing.T) {
	agent := httptest.NewServer(status.New(&agentSource{}, &status.Opts{Logger: slog.New(slog.DiscardHandler)}).Handler())
	defer agent.Close()
	src := NewHTTPSource(agent.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var f sensors.Frame
	var seqs []uint64
	for range 3 {
		if err := src.Next(ctx, &f); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, f.Seq)
	}
	if seqs[0] == seqs[1] || seqs[1] == seqs[2] {
		t.Fatalf("sequence numbers %v: Next must wait for a new frame", seqs)
	}
	if src.ROIs() != goodROIs() || !f.Valid[100] || f.To[12+17*32] < 100 {
		t.Fatalf("rois %+v, pixel %v", src.ROIs(), f.To[12+17*32])
	}
	r, err := Suggest(&f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("suggested from the agent's frame: %+v", r)

	// No agent: a clear error.
	agent.Close()
	err = NewHTTPSource(agent.URL, nil).Next(ctx, &f)
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent", err)
	}
}

// post sends a save with the given Host and Origin headers (empty: not
// sent) and returns the status code and body.
func post(t *testing.T, c *http.Client, addr, host, origin, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr+"/api/save", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

const validSave = `{"hot_cylinder":{"x":9,"y":4,"w":7,"h":9},"cold_cylinder":{"x":21,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}`

// TestServerDNSRebinding: a page on attacker.example whose name was
// rebound to 127.0.0.1 posts a save to the loopback calibration server. The
// browser sends Host: attacker.example and a matching Origin, so the old
// same-Host Origin check passed. It must be refused and nothing written.
func TestServerDNSRebinding(t *testing.T) {
	s, path := startServer(t, "")
	_, port, _ := net.SplitHostPort(s.Addr())
	tests := []struct {
		name, host, origin string
		code               int
		want               string
	}{
		{"rebound name", "attacker.example:" + port, "http://attacker.example:" + port, http.StatusMisdirectedRequest, "--allow-host"},
		{"rebound name without port", "attacker.example", "http://attacker.example", http.StatusMisdirectedRequest, "--allow-host"},
		{"rebound name, no Origin", "attacker.example:" + port, "", http.StatusMisdirectedRequest, "not allowed"},
		{"suffix of localhost", "localhost.attacker.example:" + port, "http://localhost.attacker.example:" + port, http.StatusMisdirectedRequest, ""},
		{"allowed host, foreign origin", "127.0.0.1:" + port, "http://attacker.example", http.StatusForbidden, "cross-origin"},
		{"allowed host, null origin", "127.0.0.1:" + port, "null", http.StatusForbidden, "cross-origin"},
		{"allowed host, other port", "127.0.0.1:" + port, "http://127.0.0.1:1", http.StatusForbidden, "cross-origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, http.DefaultClient, s.Addr(), tc.host, tc.origin, validSave)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %q; want %d with %q", code, body, tc.code, tc.want)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused save wrote %s (%v)", path, err)
			}
		})
	}
	// The loopback names, with the same origin, still save.
	for _, h := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		if code, body := post(t, http.DefaultClient, s.Addr(), h, "http://"+h, validSave); code != http.StatusOK {
			t.Fatalf("Host %s: %d %s", h, code, body)
		}
	}
}

// TestServerSecurityHeaders: every response, including refusals, carries
// the CSP, nosniff and no-referrer headers.
func TestServerSecurityHeaders(t *testing.T) {
	s, _ := startServer(t, "")
	for _, tc := range []struct{ path, host string }{{"/", ""}, {"/calibrate.js", ""}, {"/api/frame", ""}, {"/nope", ""}, {"/", "attacker.example"}} {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		checkSecurityHeaders(t, tc.path+" "+tc.host, resp.Header)
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

// TestServerTokenOneTime: the token URL works once. After the exchange a
// second client with the same ?token= and no cookie is refused, while the
// cookie of the first keeps working.
func TestServerTokenOneTime(t *testing.T) {
	s, _ := startServer(t, "0123456789abcdef")
	jar, _ := cookiejar.New(nil)
	first := &http.Client{Jar: jar}
	resp, err := first.Get(s.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
		t.Fatalf("first use: %d %s", resp.StatusCode, resp.Request.URL)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(s.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("second use of the token URL: %d, cookies %v, %q; want 401 and no cookie", resp.StatusCode, resp.Cookies(), b)
	}
	for _, c := range jar.Cookies(resp.Request.URL) {
		if c.Value == "0123456789abcdef" {
			t.Fatal("the cookie carries the URL token: a leaked link would equal the session")
		}
	}
	resp, err = first.Get("http://" + s.Addr() + "/api/rois")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the first browser's cookie after the exchange: %d", resp.StatusCode)
	}
}

// TestServerAllowHost: a name given with --allow-host opens and saves; a
// bad entry stops the server before it listens.
func TestServerAllowHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rois.yaml")
	s := NewServer(&ServerOpts{
		Addr:       "127.0.0.1:0",
		AllowHosts: []string{"pi-01.example", "proxy.example:8443"},
		Source:     &sceneSource{},
		ROIs:       goodROIs(),
		Save: func(_ context.Context, r sensors.ROIs) (string, error) {
			_, err := Save(path, r, &SaveOpts{Logger: slog.New(slog.DiscardHandler)})
			return "saved", err
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		host string
		code int
	}{
		{"pi-01.example:" + port, http.StatusOK},
		{"proxy.example:8443", http.StatusOK},
		{"proxy.example:" + port, http.StatusMisdirectedRequest},
		{"attacker.example:" + port, http.StatusMisdirectedRequest},
	}
	for _, tc := range tests {
		if code, body := post(t, http.DefaultClient, addr, tc.host, "http://"+tc.host, validSave); code != tc.code {
			t.Errorf("Host %s: %d %q; want %d", tc.host, code, body, tc.code)
		}
	}
	bad := NewServer(&ServerOpts{Addr: "127.0.0.1:0", AllowHosts: []string{"http://pi"}, Source: &sceneSource{}, Logger: slog.New(slog.DiscardHandler)})
	if err := bad.Listen(); !errors.Is(err, webguard.ErrBadHost) {
		t.Fatalf("Listen with a bad --allow-host: %v; want ErrBadHost", err)
	}
}
