// Package webguard is the request gate shared by stirling's two web
// servers, the status page (internal/status) and the calibration page
// (calibrate). Both serve plain HTTP on the device, and both can be reached
// by a browser that an unrelated web page drives, so both refuse what such a
// browser can be tricked into:
//
//   - DNS rebinding: a page on attacker.example whose name is re-pointed at
//     127.0.0.1 talks to the loopback server as its own origin. The browser
//     then sends Host: attacker.example. Only the names in the allowlist
//     (see Opts) are served; anything else gets 421 Misdirected Request.
//   - Cross-site requests: a state-changing request (any method but GET,
//     HEAD and OPTIONS) must come from the server's own origin, judged by
//     Origin, else Sec-Fetch-Site, else Referer. A request with none of the
//     three is not from a browser (browsers send Origin on every POST), so
//     it passes: curl and scripts on the device keep working.
//   - Framing, MIME sniffing and referrer leaks: every response carries
//     Content-Security-Policy (default-src 'self'; frame-ancestors 'none'),
//     X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
//
// LimitListener bounds the connections a server holds.
package webguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a request or connection is refused, the label values of the
// refusal counters.
const (
	ReasonHost        = "host"          // Host not in the allowlist
	ReasonOrigin      = "origin"        // state-changing request from another origin
	ReasonConnections = "connections"   // over the connection cap
	ReasonStreams     = "event_streams" // over the event-stream cap (counted by the caller)
)

// ErrBadHost means an allow-host entry is not a host name, an IP address, or
// either with a port.
var ErrBadHost = errors.New("not a host name or IP address (with an optional :port)")

// ContentSecurityPolicy is sent with every response. The pages load only
// their own scripts and styles (no inline code), fetch only from their own
// origin, and cannot be framed.
const ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Opts configure a Guard.
type Opts struct {
	// Addr is the server's listen address (host:port). Its host is allowed.
	// An unspecified host (0.0.0.0, ::, or empty) is not a name a browser
	// sends, so it allows this machine's names instead: the addresses of its
	// network interfaces (re-read at most every 10 s, when a request names
	// an address not seen yet), its host name and, for a single-label host
	// name, NAME.local (mDNS, e.g. raspberrypi.local).
	Addr string
	// AllowHosts are more names to accept: "pi-01.example.com" (any port)
	// or "pi-01.example.com:8443" (that port only); IPv6 in brackets with a
	// port. Use it for a DNS name, a NAT address or a reverse proxy.
	AllowHosts []string
	// Logger receives one line per refused request; nil means
	// slog.Default(). Refusals are logged at Warn at most once a minute per
	// reason, then at Debug.
	Logger *slog.Logger
	// Hint finishes the refusal message: how to allow another name, e.g.
	// "add it with --allow-host NAME". Empty: a generic hint.
	Hint string
}

// Guard checks requests; see the package comment. It is safe for
// concurrent use.
type Guard struct {
	log      *slog.Logger
	hint     string
	names    map[string]bool // lower-case host names allowed on any port
	hostPort map[string]bool // lower-case "host:port" allowed exactly
	wildcard bool            // listening on all addresses: allow the machine's names

	mu       sync.Mutex
	local    map[netip.Addr]bool // interface addresses, when wildcard
	localAt  time.Time
	hostname []string

	refused  [2]atomic.Uint64 // ReasonHost, ReasonOrigin
	lastWarn [2]atomic.Int64  // unix nanoseconds of the last Warn per reason
}

// loopbackNames are always allowed, on any port: a browser resolves them
// itself and no web page can re-point them.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// ParseHost validates an allow-host entry and returns it normalised (lower
// case, IPv6 without brackets when there is no port).
func ParseHost(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	host, port, hasPort := splitHostPort(s)
	if host == "" || (hasPort && !validPort(port)) {
		return "", fmt.Errorf("allow-host %q: %w", s, ErrBadHost)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validName(host) {
		return "", fmt.Errorf("allow-host %q: %w", s, ErrBadHost)
	}
	if hasPort {
		return net.JoinHostPort(host, port), nil
	}
	return host, nil
}

// New returns a guard for a server listening on o.Addr.
func New(o Opts) (*Guard, error) {
	g := &Guard{
		log:      o.Logger,
		hint:     o.Hint,
		names:    map[string]bool{},
		hostPort: map[string]bool{},
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.hint == "" {
		g.hint = "allow it in the server's configuration"
	}
	for _, n := range loopbackNames {
		g.names[n] = true
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("webguard: listen address %q: %w", o.Addr, err)
	}
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		g.wildcard = true
		if hn, err := os.Hostname(); err == nil && hn != "" {
			hn = strings.ToLower(hn)
			g.hostname = append(g.hostname, hn)
			if !strings.Contains(hn, ".") {
				g.hostname = append(g.hostname, hn+".local")
			}
		}
	} else {
		g.names[host] = true
	}
	for _, h := range g.hostname {
		g.names[h] = true
	}
	for _, a := range o.AllowHosts {
		n, err := ParseHost(a)
		if err != nil {
			return nil, fmt.Errorf("webguard: %w", err)
		}
		if _, _, hasPort := splitHostPort(n); hasPort {
			g.hostPort[n] = true
		} else {
			g.names[n] = true
		}
	}
	return g, nil
}

// Refused is how many requests were refused for reason (ReasonHost or
// ReasonOrigin).
func (g *Guard) Refused(reason string) uint64 {
	if i := reasonIndex(reason); i >= 0 {
		return g.refused[i].Load()
	}
	return 0
}

func reasonIndex(reason string) int {
	switch reason {
	case ReasonHost:
		return 0
	case ReasonOrigin:
		return 1
	}
	return -1
}

// SetHeaders sets the security headers on h.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// Handler wraps next: security headers on every response, then the Host
// check, then the Origin check for state-changing methods.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHeaders(w.Header())
		if !g.AllowedHost(r.Host) {
			g.refuse(w, r, ReasonHost, http.StatusMisdirectedRequest,
				fmt.Sprintf("host %q is not allowed for this server (DNS rebinding protection); open it by its address or localhost, or %s\n", r.Host, g.hint))
			return
		}
		if !SafeMethod(r.Method) {
			if ok, why := SameOrigin(r); !ok {
				g.refuse(w, r, ReasonOrigin, http.StatusForbidden, "cross-origin request refused: "+why+"\n")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, reason string, code int, msg string) {
	i := reasonIndex(reason)
	g.refused[i].Add(1)
	lvl := slog.LevelDebug
	now := time.Now().UnixNano()
	if last := g.lastWarn[i].Load(); now-last > int64(time.Minute) && g.lastWarn[i].CompareAndSwap(last, now) {
		lvl = slog.LevelWarn
	}
	g.log.Log(r.Context(), lvl, "request refused", "reason", reason, "host", r.Host, "origin", r.Header.Get("Origin"),
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "refused_total", g.refused[i].Load())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, msg)
}

// SafeMethod reports whether m cannot change state (GET, HEAD, OPTIONS).
func SafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// AllowedHost reports whether a request's Host header value is allowed.
func (g *Guard) AllowedHost(hostHeader string) bool {
	hp := strings.ToLower(hostHeader)
	host, port, hasPort := splitHostPort(hp)
	if host == "" || (hasPort && !validPort(port)) {
		return false
	}
	if g.names[host] || (hasPort && g.hostPort[hp]) {
		return true
	}
	if !g.wildcard {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return g.isLocal(ip.Unmap().WithZone(""))
}

// isLocal reports whether ip is one of this machine's interface addresses,
// re-reading them when ip is unknown and the last read is older than 10 s
// (addresses change with DHCP).
func (g *Guard) isLocal(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.local[ip] {
		return true
	}
	if g.local != nil && time.Since(g.localAt) < 10*time.Second {
		return false
	}
	g.local, g.localAt = map[netip.Addr]bool{}, time.Now()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		g.log.Warn("interface addresses unreadable", "err", err)
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			g.local[p.Addr().Unmap().WithZone("")] = true
		}
	}
	return g.local[ip]
}

// SameOrigin reports whether a request comes from the page of the server it
// is sent to, and why not. Origin decides when present (and "null" is
// foreign); else Sec-Fetch-Site (same-origin, or none for a request the user
// made); else Referer. A request with none of them is not from a browser and
// passes.
func SameOrigin(r *http.Request) (bool, string) {
	if o := r.Header.Get("Origin"); o != "" {
		if !sameHost(o, r.Host) {
			return false, fmt.Sprintf("Origin %q is not this server (%s)", o, r.Host)
		}
		return true, ""
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		if s != "same-origin" && s != "none" {
			return false, fmt.Sprintf("Sec-Fetch-Site is %q", s)
		}
		return true, ""
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		if !sameHost(ref, r.Host) {
			return false, fmt.Sprintf("Referer is not this server (%s)", r.Host)
		}
	}
	return true, ""
}

// sameHost reports whether the http(s) URL u names exactly host (host:port
// as in a Host header). Default ports are made explicit on both sides.
func sameHost(u, host string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return false
	}
	return withPort(strings.ToLower(p.Host), p.Scheme) == withPort(strings.ToLower(host), p.Scheme)
}

func withPort(hp, scheme string) string {
	if _, _, ok := splitHostPort(hp); ok {
		return hp
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(hp, "[]"), port)
}

// splitHostPort splits "host", "host:port", "[v6]", "[v6]:port" and a bare
// IPv6 address. host comes back without brackets.
func splitHostPort(s string) (host, port string, hasPort bool) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p, true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1], "", false
	}
	if strings.Count(s, ":") > 1 { // bare IPv6
		return s, "", false
	}
	if strings.Contains(s, ":") { // "host:" or a bad port
		return "", "", false
	}
	return s, "", false
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 65536
}

// validName reports whether s is a DNS name: labels of letters, digits and
// hyphens (underscores tolerated), 1-63 bytes each, at most 253 in all.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
