package status

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/internal/webguard"
	"github.com/stirling-iot/stirling/sensors"
)

//go:embed assets
var assets embed.FS

// Opts configures a Server. The zero value of every field has a default.
type Opts struct {
	// Addr is the listen address; default "127.0.0.1:8080". Port 0 picks a
	// free port (see Server.Addr).
	Addr string
	// LiveWindow is how long /livez (and /healthz) tolerate no sensor data
	// or no successful spool append; default 30 seconds. A failed append
	// fails them at once, until an append works again.
	LiveWindow time.Duration
	// HealthMaxSilence is how long /healthz tolerates a publisher that
	// delivers nothing while readings wait for it; default 2 minutes.
	// The server's start counts as activity for every check, so a fresh
	// agent gets this much grace (and LiveWindow for the live checks).
	HealthMaxSilence time.Duration
	// History is how much RPM history the chart keeps, sampled every
	// second; default 10 minutes.
	History time.Duration
	// FrameInterval caps the rate of "frame" events; default 250 ms.
	FrameInterval time.Duration
	// RPMMetric is the reading charted as RPM; default "rpm".
	RPMMetric string
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// Clock tells the time for health and history; default clock.Real.
	Clock clock.Clock
	// AllowHosts are the host names, besides the listen address and the
	// loopback names, that requests may carry in Host (see webguard.Opts);
	// http.allow_hosts in the config.
	AllowHosts []string
	// MaxConns caps the connections the server holds at once; default 64.
	// One browser tab holds one event stream and at most a few requests
	// (about 6 connections), so 64 serves several viewers plus scrapers;
	// with 16 KiB of header buffer per connection the cap bounds the server
	// to a few MiB. Connections over the cap are answered 503 and closed.
	MaxConns int
	// MaxEventClients caps the open /events streams; default 16. Each
	// stream gets every frame (about 8 KiB, 4 a second); more streams are
	// answered 503 with Retry-After.
	MaxEventClients int
	// Metrics is what /metrics serves, in the Prometheus text format: the
	// agent's registry, with the server itself registered on it (the
	// server is a prometheus.Collector). Nil serves a registry holding
	// only the server.
	Metrics prometheus.Gatherer
}

// Timeouts of the status server's connections: a client that sends no
// request header, or keeps an idle connection, or stops reading an event
// stream, gives its slot back after these.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 30 * time.Second
	sseWriteTimeout   = 15 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Server is the status HTTP server.
type Server struct {
	src  Source
	opts Opts
	log  *slog.Logger
	mux  *http.ServeMux

	guard    *webguard.Guard
	guardErr error // a bad AllowHosts entry; Listen returns it
	limiter  *webguard.Limiter

	started time.Time

	mu       sync.Mutex
	ln       net.Listener
	frame    sensors.Frame // scratch for Source.Frame, guarded by mu
	frameSeq uint64
	frameOK  bool
	frameDoc []byte // cached JSON of the frame with frameSeq
	history  []rpmPoint
	histNext int // ring write position once history is full
	clients  map[chan event]struct{}
	joined   chan struct{} // signalled when the first client of an idle server joins
	done     chan struct{} // closed when Run is shutting down

	sseClients atomic.Int64
	sseRefused atomic.Uint64
	sseDropped atomic.Uint64
	sseEvents  atomic.Uint64
}

type rpmPoint struct {
	T   int64    // unix milliseconds
	RPM *float64 // nil when no good reading
}

func (p rpmPoint) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	b = strconv.AppendInt(b, p.T, 10)
	b = append(b, ',')
	if p.RPM == nil {
		b = append(b, "null"...)
	} else {
		b = appendFloat(b, *p.RPM)
	}
	return append(b, ']'), nil
}

type event struct {
	name string
	data []byte
}

// DefaultOpts returns the defaults New uses for every zero field.
func DefaultOpts() Opts {
	return Opts{
		Addr:             "127.0.0.1:8080",
		LiveWindow:       30 * time.Second,
		HealthMaxSilence: 2 * time.Minute,
		History:          10 * time.Minute,
		FrameInterval:    250 * time.Millisecond,
		RPMMetric:        "rpm",
		Logger:           slog.Default(),
		Clock:            clock.Real{},
		MaxConns:         64,
		MaxEventClients:  16,
	}
}

// New returns a server reading from src. It does not listen until Listen or
// Run. A nil o means DefaultOpts.
func New(src Source, o *Opts) *Server {
	d := DefaultOpts()
	var opts Opts
	if o != nil {
		opts = *o
	}
	if opts.Addr == "" {
		opts.Addr = d.Addr
	}
	if opts.LiveWindow <= 0 {
		opts.LiveWindow = d.LiveWindow
	}
	if opts.HealthMaxSilence <= 0 {
		opts.HealthMaxSilence = d.HealthMaxSilence
	}
	if opts.History <= 0 {
		opts.History = d.History
	}
	if opts.FrameInterval <= 0 {
		opts.FrameInterval = d.FrameInterval
	}
	if opts.RPMMetric == "" {
		opts.RPMMetric = d.RPMMetric
	}
	if opts.Logger == nil {
		opts.Logger = d.Logger
	}
	if opts.Clock == nil {
		opts.Clock = d.Clock
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = d.MaxConns
	}
	if opts.MaxEventClients <= 0 {
		opts.MaxEventClients = d.MaxEventClients
	}
	s := &Server{
		src:     src,
		opts:    opts,
		log:     opts.Logger.With("component", "status"),
		started: opts.Clock.Now(),
		clients: make(map[chan event]struct{}),
		joined:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /events", s.handleEvents)
	if opts.Metrics == nil {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(s)
		opts.Metrics = reg
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{
		ErrorLog:           slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling:      promhttp.ContinueOnError,
		DisableCompression: true, // as before: the page and scrapers are on a local network
	}))
	mux.HandleFunc("GET /livez", s.handleLivez)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /api/status", s.handleStatus)
	mux.HandleFunc("GET /api/frame", s.handleFrame)
	mux.HandleFunc("GET /api/ramp", handleRamp)
	s.mux = mux
	gopts := webguard.Opts{Addr: opts.Addr, AllowHosts: opts.AllowHosts, Logger: s.log,
		Hint: "add the name to http.allow_hosts in the agent's configuration"}
	if s.guard, s.guardErr = webguard.New(gopts); s.guardErr != nil {
		gopts.AllowHosts = nil
		s.guard, _ = webguard.New(gopts) // without the bad entries; Listen fails anyway
	}
	if s.guard == nil { // the listen address does not parse: Listen fails anyway
		gopts.Addr = "127.0.0.1:0"
		s.guard, _ = webguard.New(gopts)
	}
	return s
}

// Handler is the server's HTTP handler, for tests and for mounting elsewhere:
// the routes behind the Host and Origin checks and the security headers.
// Without Run, /events only sends the initial state.
func (s *Server) Handler() http.Handler { return s.guard.Handler(s.mux) }

// Listen opens the listening socket. Run calls it if it was not called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.guardErr != nil {
		return fmt.Errorf("status: %w", s.guardErr)
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("status: listen: %w", err)
	}
	s.limiter = webguard.LimitListener(ln, s.opts.MaxConns)
	s.ln = s.limiter
	return nil
}

// Addr is the address the server listens on, valid after Listen (or once
// Run has started listening); empty before.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully (open event
// streams are closed, in-flight requests get 5 seconds).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("status server listening", "addr", s.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.loop(ctx)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	close(s.done)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("status: serve: %w", err)
	}
	return nil
}

// loop samples the RPM history every second and pushes events until ctx
// or done. With no /events client it only samples: no status document is
// encoded and the frame ticker is stopped, so an unwatched agent wakes once
// a second here, not five times.
func (s *Server) loop(ctx context.Context) {
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	fr := time.NewTicker(s.opts.FrameInterval)
	defer fr.Stop()
	framing := true
	s.tick()
	var sent uint64 // seq of the last frame broadcast
	sentAny := false
	for {
		if watched := s.watched(); watched != framing {
			if framing = watched; framing {
				fr.Reset(s.opts.FrameInterval)
			} else {
				fr.Stop()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-s.joined:
		case <-sec.C:
			s.tick()
		case <-fr.C:
			if doc, seq := s.latestFrame(); doc != nil && (!sentAny || seq != sent) {
				sent, sentAny = seq, true
				s.broadcast(event{"frame", doc})
			}
		}
	}
}

// watched reports whether an /events client is connected.
func (s *Server) watched() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients) > 0
}

// tick samples RPM and, when someone watches, broadcasts a status event.
func (s *Server) tick() {
	snap := s.src.Snapshot()
	s.sample(snap)
	if !s.watched() {
		return
	}
	doc, err := json.Marshal(s.statusDoc(snap))
	if err != nil {
		s.log.Error("status encode failed", "err", err)
		return
	}
	s.broadcast(event{"status", doc})
}

func (s *Server) sample(snap Snapshot) {
	p := rpmPoint{T: s.opts.Clock.Now().UnixMilli()}
	for _, r := range snap.Readings {
		if r.Metric == s.opts.RPMMetric && r.Quality != "BAD" {
			v := r.Value
			p.RPM = &v
			break
		}
	}
	n := int(s.opts.History / time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.history) < n {
		s.history = append(s.history, p)
		return
	}
	s.history[s.histNext] = p
	s.histNext = (s.histNext + 1) % n
}

func (s *Server) historyCopy() []rpmPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rpmPoint, 0, len(s.history))
	out = append(out, s.history[s.histNext:]...)
	return append(out, s.history[:s.histNext]...)
}

// latestFrame returns the latest frame's JSON (nil when there is none yet)
// and its sequence number. The JSON is encoded once per new frame.
func (s *Server) latestFrame() (doc []byte, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.src.Frame(&s.frame) {
		return s.frameDoc, s.frameSeq
	}
	if s.frameOK && s.frame.Seq == s.frameSeq && s.frameDoc != nil {
		return s.frameDoc, s.frameSeq
	}
	s.frameOK, s.frameSeq = true, s.frame.Seq
	s.frameDoc = AppendFrameJSON(make([]byte, 0, 8192), &s.frame, s.src.ROIs())
	return s.frameDoc, s.frameSeq
}

func (s *Server) broadcast(ev event) {
	s.sseEvents.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		select {
		case c <- ev:
		default:
			s.sseDropped.Add(1) // a slow client misses this one; the next carries the full state
		}
	}
}

type statusDoc struct {
	Snapshot
	Health Health `json:"health"` // as /healthz

	Uptime     float64      `json:"uptime_seconds"`
	RPMMetric  string       `json:"rpm_metric"`
	RPMHistory []rpmPoint   `json:"rpm_history"`
	ROIs       sensors.ROIs `json:"rois"`
}

func (s *Server) statusDoc(snap Snapshot) statusDoc {
	if snap.Readings == nil {
		snap.Readings = []Reading{}
	}
	if snap.Publishers == nil {
		snap.Publishers = []PublisherStatus{}
	}
	return statusDoc{
		Snapshot:   snap,
		Health:     s.health(snap, true),
		Uptime:     s.opts.Clock.Now().Sub(s.started).Seconds(),
		RPMMetric:  s.opts.RPMMetric,
		RPMHistory: s.historyCopy(),
		ROIs:       s.src.ROIs(),
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.statusDoc(s.src.Snapshot()))
}

func (s *Server) handleFrame(w http.ResponseWriter, _ *http.Request) {
	doc, _ := s.latestFrame()
	if doc == nil {
		http.Error(w, "no thermal frame yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
}

// handleEvents streams server-sent events until the client goes away or the
// server shuts down.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if n := s.sseClients.Add(1); n > int64(s.opts.MaxEventClients) {
		s.sseClients.Add(-1)
		s.sseRefused.Add(1)
		s.log.Debug("event stream refused", "reason", webguard.ReasonStreams, "max", s.opts.MaxEventClients, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("too many event streams (max %d); retry in a few seconds", s.opts.MaxEventClients), http.StatusServiceUnavailable)
		return
	}
	c := make(chan event, 4)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	first := len(s.clients) == 1
	s.mu.Unlock()
	if first {
		select {
		case s.joined <- struct{}{}: // restart the frame ticker
		default:
		}
	}
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		s.sseClients.Add(-1)
	}()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(ev event) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)) // a client that stops reading gives its slot back
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if doc, err := json.Marshal(s.statusDoc(s.src.Snapshot())); err == nil && !send(event{"status", doc}) {
		return
	}
	if doc, _ := s.latestFrame(); doc != nil && !send(event{"frame", doc}) {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case ev := <-c:
			if !send(ev) {
				return
			}
		case <-keep.C:
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
