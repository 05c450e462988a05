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
	// terminal carries it as ?token=..., which is swapped for a cookie.
	// Set it whenever Addr is reachable from other machines (see NewToken).
	Token string
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

// Server is the calibration web server.
type Server struct {
	o   ServerOpts
	log *slog.Logger
	mux *http.ServeMux

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

// NewServer returns a server; it does not listen until Listen or Run.
func NewServer(o ServerOpts) *Server {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8088"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
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
	return s
}

// ROIs are the regions last saved (or the initial ones).
func (s *Server) ROIs() sensors.ROIs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rois
}

// Handler is the server's handler, with the token check.
func (s *Server) Handler() http.Handler { return s.auth(s.mux) }

// Listen opens the socket; Run calls it if needed.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("calibrate: listen: %w", err)
	}
	s.ln = ln
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
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
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

func (s *Server) auth(next http.Handler) http.Handler {
	if s.o.Token == "" {
		return next
	}
	want := []byte(s.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && subtle.ConstantTimeCompare([]byte(q), want) == 1 && r.Method == http.MethodGet {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.o.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		s.log.Warn("request without a valid token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "calibrate: open the URL printed in the terminal (it carries ?token=...)", http.StatusUnauthorized)
	})
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
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			writeJSON(w, http.StatusForbidden, apiError{"cross-origin save refused"})
			return
		}
	}
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
