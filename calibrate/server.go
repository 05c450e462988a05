package calibrate

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/internal/webguard"
	"github.com/stirling-iot/stirling/sensors"
)

//go:embed assets
var assets embed.FS

// cookieName holds the access token once the URL with ?token= was opened.
const cookieName = "stirling_calibrate"

// ServerOpts configure the calibration web server.
type ServerOpts struct {
	// Addr is the listen address; default "127.0.0.1:8088".
	Addr string
	// Token, when set, is required to use the page: the URL printed in the
	// terminal carries it as ?token=..., which is swapped, once, for a
	// session cookie with a fresh secret. After that the URL no longer
	// works. Set it whenever Addr is reachable from other machines (see
	// NewToken).
	Token string
	// AllowHosts are the host names, besides the listen address and the
	// loopback names, the page may be opened by (--allow-host); see
	// webguard.Opts.
	AllowHosts []string
	// Source delivers the live frames.
	Source FrameSource
	// ROIs are the regions the page starts with.
	ROIs sensors.ROIs
	// File is the ROI file Save writes, shown on the page (GET /api/file).
	File string
	// Save stores regions the user saved (already validated) and returns a
	// message for the page. Nil disables saving.
	Save func(ctx context.Context, r sensors.ROIs) (string, error)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultServerOpts returns the defaults NewServer uses for every zero
// field: the loopback address, no token, the default logger.
func DefaultServerOpts() ServerOpts {
	return ServerOpts{Addr: "127.0.0.1:8088", Logger: slog.Default()}
}

// Server is the calibration web server.
type Server struct {
	o   ServerOpts
	log *slog.Logger
	mux *http.ServeMux

	guard    *webguard.Guard
	guardErr error // a bad AllowHosts entry; Listen returns it

	tokenMu   sync.Mutex
	tokenUsed bool   // the URL token was exchanged
	session   []byte // the cookie's secret, once exchanged

	mu       sync.Mutex
	ln       net.Listener
	frame    sensors.Frame
	hasFrame bool
	frameErr string
	rois     sensors.ROIs
	saveMu   sync.Mutex // one save at a time
}

// NewToken returns a fresh random access token (128 bits, hex).
func NewToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("calibrate: token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewServer returns a server; it does not listen until Listen or Run. A
// nil opts means DefaultServerOpts (no frame source: the page then has
// nothing to show).
func NewServer(opts *ServerOpts) *Server {
	d := DefaultServerOpts()
	var o ServerOpts
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" {
		o.Addr = d.Addr
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	s := &Server{o: o, log: o.Logger.With("component", "calibrate"), rois: o.ROIs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.static("assets/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /calibrate.js", s.static("assets/calibrate.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /calibrate.css", s.static("assets/calibrate.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /heatmap.js", bytesHandler(status.HeatmapJS(), "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", bytesHandler(status.StyleCSS(), "text/css; charset=utf-8"))
	mux.HandleFunc("GET /api/ramp", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, status.Ramp()) })
	mux.HandleFunc("GET /api/frame", s.handleFrame)
	mux.HandleFunc("GET /api/rois", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.ROIs()) })
	mux.HandleFunc("GET /api/suggest", s.handleSuggest)
	mux.HandleFunc("GET /api/file", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, fileInfo{File: s.o.File, Save: s.o.Save != nil})
	})
	mux.HandleFunc("POST /api/save", s.handleSave)
	s.mux = mux
	gopts := webguard.Opts{Addr: o.Addr, AllowHosts: o.AllowHosts, Logger: s.log, Hint: "add the name with --allow-host NAME"}
	if s.guard, s.guardErr = webguard.New(gopts); s.guardErr != nil {
		gopts.AllowHosts = nil
		s.guard, _ = webguard.New(gopts) // Listen fails anyway
	}
	if s.guard == nil { // the listen address does not parse: Listen fails anyway
		gopts.Addr = "127.0.0.1:0"
		s.guard, _ = webguard.New(gopts)
	}
	return s
}

// maxConns caps the calibration server's connections: one person's
// browser needs about six.
const maxConns = 32

// ROIs are the regions last saved (or the initial ones).
func (s *Server) ROIs() sensors.ROIs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rois
}

// Handler is the server's handler: security headers, the Host and Origin
// checks, then the token check.
func (s *Server) Handler() http.Handler { return s.guard.Handler(s.auth(s.mux)) }

// Listen opens the socket; Run calls it if needed.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.guardErr != nil {
		return fmt.Errorf("calibrate: %w", s.guardErr)
	}
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("calibrate: listen: %w", err)
	}
	s.ln = webguard.LimitListener(ln, maxConns)
	return nil
}

// Addr is the listening address, empty before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the address to open in a browser, with the token when one is set.
// host replaces an unspecified listen host (0.0.0.0, ::) when not empty.
func (s *Server) URL(host string) string {
	h, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(h); (ip == nil || ip.IsUnspecified()) && host != "" {
		h = host
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(h, port), Path: "/"}
	if s.o.Token != "" {
		u.RawQuery = url.Values{"token": {s.o.Token}}.Encode()
	}
	return u.String()
}

// Run reads frames and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if s.o.Source == nil {
		return errors.New("calibrate: no frame source")
	}
	if err := s.Listen(); err != nil {
		return err
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 16 << 10, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pump(pctx)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("calibrate: serve: %w", err)
	}
	return nil
}

// pump keeps the latest frame.
func (s *Server) pump(ctx context.Context) {
	var f sensors.Frame
	var lastErr string
	for ctx.Err() == nil {
		err := s.o.Source.Next(ctx, &f)
		s.mu.Lock()
		if err == nil {
			s.frame, s.hasFrame, s.frameErr = f, true, ""
		} else if ctx.Err() == nil {
			s.frameErr = err.Error()
		}
		s.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			if err.Error() != lastErr {
				s.log.Warn("no frame", "err", err)
				lastErr = err.Error()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		} else {
			lastErr = ""
		}
	}
}

// Frame copies the latest frame into dst and reports whether there is one.
func (s *Server) Frame(dst *sensors.Frame) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hasFrame {
		*dst = s.frame
	}
	return s.hasFrame
}

// auth admits requests with the session cookie. The URL token is
// exchanged for that cookie once: the first GET carrying it gets a cookie
// with a fresh secret (not the token, so a leaked link is worth nothing
// afterwards) and a redirect to the same URL without the token. Every later
// use of the token is refused.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.o.Token == "" {
		return next
	}
	token := []byte(s.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil && s.validSession(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query().Get("token")
		if q == "" || subtle.ConstantTimeCompare([]byte(q), token) != 1 || r.Method != http.MethodGet {
			s.log.Warn("request without a valid token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "calibrate: open the URL printed in the terminal (it carries ?token=...)", http.StatusUnauthorized)
			return
		}
		session, err := s.exchange()
		if err != nil {
			s.log.Warn("used access token refused", "remote", r.RemoteAddr, "err", err)
			http.Error(w, "calibrate: this link was already used; the page works only in the browser that opened it first. Restart stirling calibrate for a new link.", http.StatusUnauthorized)
			return
		}
		s.log.Info("access token exchanged for a session cookie", "remote", r.RemoteAddr)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		u := *r.URL
		v := u.Query()
		v.Del("token")
		u.RawQuery = v.Encode()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
	})
}

// ErrTokenUsed means the one-time URL token was already exchanged.
var ErrTokenUsed = errors.New("calibrate: the access token was already used")

// exchange consumes the URL token and returns the session secret.
func (s *Server) exchange() (string, error) {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if s.tokenUsed {
		return "", ErrTokenUsed
	}
	secret, err := NewToken()
	if err != nil {
		return "", err
	}
	s.tokenUsed, s.session = true, []byte(secret)
	return secret, nil
}

// validSession compares a cookie with the session secret in constant time.
func (s *Server) validSession(v string) bool {
	s.tokenMu.Lock()
	session := s.session
	s.tokenMu.Unlock()
	return session != nil && subtle.ConstantTimeCompare([]byte(v), session) == 1
}

func (s *Server) static(name, ctype string) http.HandlerFunc {
	b, _ := assets.ReadFile(name) // embedded: cannot fail
	return bytesHandler(b, ctype)
}

func bytesHandler(b []byte, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away
}

type apiError struct {
	Error string `json:"error"`
}

func (s *Server) handleFrame(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasFrame {
		msg := "waiting for the first frame"
		if s.frameErr != "" {
			msg = s.frameErr
		}
		writeJSON(w, http.StatusServiceUnavailable, apiError{msg})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(status.AppendFrameJSON(make([]byte, 0, 8192), &s.frame, s.rois))
}

func (s *Server) handleSuggest(w http.ResponseWriter, _ *http.Request) {
	var f sensors.Frame
	if !s.Frame(&f) {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"no frame yet"})
		return
	}
	r, err := Suggest(&f)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, r)
}

// fileInfo is GET /api/file: the file the page saves to.
type fileInfo struct {
	File string `json:"file"`
	Save bool   `json:"save"` // false: saving is disabled
}

type saveResult struct {
	Message string       `json:"message"`
	ROIs    sensors.ROIs `json:"rois"`
}

func (s *Server) handleSave(w http.ResponseWriter, r *http.Request) {
	if s.o.Save == nil {
		writeJSON(w, http.StatusForbidden, apiError{"saving is disabled"})
		return
	}
	// Host and Origin were checked by the guard (Handler).
	var rois sensors.ROIs
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rois); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad request: " + err.Error()})
		return
	}
	if err := rois.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"not saved: " + err.Error()})
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	msg, err := s.o.Save(r.Context(), rois)
	if err != nil {
		s.log.Error("save failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	s.mu.Lock()
	s.rois = rois
	s.mu.Unlock()
	s.log.Info("regions saved", "hot_cylinder", rois.HotCylinder.String(), "cold_cylinder", rois.ColdCylinder.String(), "flame", rois.Flame.String())
	writeJSON(w, http.StatusOK, saveResult{Message: msg, ROIs: rois})
}
