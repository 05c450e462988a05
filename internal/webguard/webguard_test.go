package webguard

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func newGuard(t *testing.T, addr string, allow ...string) *Guard {
	t.Helper()
	g, err := New(Opts{Addr: addr, AllowHosts: allow, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAllowedHost(t *testing.T) {
	g := newGuard(t, "192.0.2.7:8088", "pi-01.example.com", "Proxy.Example:8443", "[2001:db8::1]:8080")
	tests := []struct {
		host string
		ok   bool
	}{
		{"192.0.2.7:8088", true},
		{"192.0.2.7", true},
		{"127.0.0.1:8088", true},
		{"127.0.0.1:1234", true}, // loopback names on any port
		{"localhost", true},
		{"LOCALHOST:8088", true},
		{"[::1]:8088", true},
		{"[::1]", true},
		{"pi-01.example.com:8088", true},
		{"pi-01.example.com", true},
		{"proxy.example:8443", true},
		{"proxy.example:8088", false}, // allowed on 8443 only
		{"proxy.example", false},
		{"[2001:db8::1]:8080", true},
		{"[2001:db8::1]:8081", false},
		{"attacker.example:8088", false},
		{"localhost.attacker.example", false},
		{"127.0.0.1.nip.io:8088", false},
		{"localhost.", false},
		{"192.0.2.8:8088", false}, // not the listen address
		{"", false},
		{":8088", false},
		{"localhost:", false},
	}
	for _, tc := range tests {
		if got := g.AllowedHost(tc.host); got != tc.ok {
			t.Errorf("AllowedHost(%q) = %v, want %v", tc.host, got, tc.ok)
		}
	}
}

// TestAllowedHostWildcard: listening on every address allows this
// machine's interface addresses and host name, and nothing else.
func TestAllowedHostWildcard(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "[::]:8080", ":8080"} {
		g := newGuard(t, addr)
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip.IsLinkLocalUnicast() {
				continue // carries a zone in a URL; not what a user types
			}
			if h := net.JoinHostPort(ip.String(), "8080"); !g.AllowedHost(h) {
				t.Errorf("%s: own address %s refused", addr, h)
			}
		}
		if hn, err := os.Hostname(); err == nil && !g.AllowedHost(hn+":8080") {
			t.Errorf("%s: own host name %s refused", addr, hn)
		}
		for _, bad := range []string{"attacker.example:8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.99:8080"} {
			if g.AllowedHost(bad) {
				t.Errorf("%s: %s allowed", addr, bad)
			}
		}
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pi-01.local", "pi-01.local"},
		{" Pi-01.Local ", "pi-01.local"},
		{"pi:8088", "pi:8088"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]:80", "[2001:db8::1]:80"},
		{"", ""},
		{"http://pi", ""},
		{"pi:0", ""},
		{"pi:99999", ""},
		{"pi:", ""},
		{"-pi", ""},
		{"pi/x", ""},
		{"*.example.com", ""},
		{"a..b", ""},
	}
	for _, tc := range tests {
		got, err := ParseHost(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrBadHost) {
				t.Errorf("ParseHost(%q) = %q, %v; want ErrBadHost", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := New(Opts{Addr: "127.0.0.1:1", AllowHosts: []string{"bad host"}}); !errors.Is(err, ErrBadHost) {
		t.Errorf("New with a bad allow-host: %v", err)
	}
}

func TestHandler(t *testing.T) {
	g := newGuard(t, "127.0.0.1:8088", "pi.example")
	called := 0
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { called++; _, _ = io.WriteString(w, "ok") }))
	tests := []struct {
		name, method, host string
		hdr                map[string]string
		code               int
	}{
		{"get", "GET", "127.0.0.1:8088", nil, 200},
		{"get from a foreign origin reads nothing it can use (CORS) but is served", "GET", "127.0.0.1:8088", map[string]string{"Origin": "http://attacker.example"}, 200},
		{"rebound get", "GET", "attacker.example:8088", nil, 421},
		{"rebound post with its own origin", "POST", "attacker.example:8088", map[string]string{"Origin": "http://attacker.example:8088"}, 421},
		{"same-origin post", "POST", "127.0.0.1:8088", map[string]string{"Origin": "http://127.0.0.1:8088"}, 200},
		{"same-origin post, upper case", "POST", "PI.example:8088", map[string]string{"Origin": "http://pi.EXAMPLE:8088"}, 200},
		{"post, default port", "POST", "pi.example", map[string]string{"Origin": "http://pi.example:80"}, 200},
		{"post, https proxy", "POST", "pi.example", map[string]string{"Origin": "https://pi.example"}, 200},
		{"post from another allowed name", "POST", "127.0.0.1:8088", map[string]string{"Origin": "http://pi.example:8088"}, 403},
		{"post from another port", "POST", "127.0.0.1:8088", map[string]string{"Origin": "http://127.0.0.1:9999"}, 403},
		{"post, null origin", "POST", "127.0.0.1:8088", map[string]string{"Origin": "null"}, 403},
		{"post, file origin", "POST", "127.0.0.1:8088", map[string]string{"Origin": "file://"}, 403},
		{"post, cross-site fetch metadata", "POST", "127.0.0.1:8088", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"post, same-site is not same-origin", "POST", "127.0.0.1:8088", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"post, same-origin fetch metadata", "POST", "127.0.0.1:8088", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"post, foreign referer", "POST", "127.0.0.1:8088", map[string]string{"Referer": "http://attacker.example/x"}, 403},
		{"post, own referer", "POST", "127.0.0.1:8088", map[string]string{"Referer": "http://127.0.0.1:8088/"}, 200},
		{"post without browser headers (curl)", "POST", "127.0.0.1:8088", nil, 200},
		{"delete from a foreign origin", "DELETE", "127.0.0.1:8088", map[string]string{"Origin": "http://attacker.example"}, 403},
		{"put from a foreign origin", "PUT", "127.0.0.1:8088", map[string]string{"Origin": "http://attacker.example"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := called
			req := httptest.NewRequest(tc.method, "/x", strings.NewReader("{}"))
			req.Host = tc.host
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%d %q; want %d", rec.Code, rec.Body, tc.code)
			}
			if reached := called > before; reached != (tc.code == 200) {
				t.Fatalf("handler reached = %v with %d", reached, rec.Code)
			}
			hd := rec.Result().Header
			if hd.Get("Content-Security-Policy") != ContentSecurityPolicy || hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("headers %v", hd)
			}
			if tc.code == 421 && !strings.Contains(rec.Body.String(), "allow") {
				t.Fatalf("refusal %q does not say how to allow the name", rec.Body)
			}
		})
	}
	if g.Refused(ReasonHost) != 2 || g.Refused(ReasonOrigin) != 9 {
		t.Fatalf("refused host %d origin %d", g.Refused(ReasonHost), g.Refused(ReasonOrigin))
	}
}

// TestLimitListener: connections over the cap are answered 503 and closed
// at once; closing a held one frees its slot.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(ln, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	held := []net.Conn{<-accepted, <-accepted}
	over := dial()
	_ = over.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(over)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 503 ") || !strings.HasSuffix(string(b), refusalBody) {
		t.Fatalf("over the cap: %q %v", b, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("refusal does not parse as a 503 with Retry-After: %v %v", resp, err)
	}
	if l.Open() != 2 || l.Refused() != 1 {
		t.Fatalf("open %d refused %d", l.Open(), l.Refused())
	}
	held[0].Close()
	held[0].Close() // a second Close frees nothing more
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no slot after a held connection was closed")
	}
	if l.Refused() != 1 {
		t.Fatalf("refused %d", l.Refused())
	}
}
