package calibrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/sensors"
)

// FrameSource delivers thermal frames.
type FrameSource interface {
	// Next fills dst with the next full frame, blocking until there is one
	// or ctx is done.
	Next(ctx context.Context, dst *sensors.Frame) error
}

// FrameFunc adapts a function, such as (*mlx90640.Dev).NextFrame, to a
// FrameSource.
type FrameFunc func(ctx context.Context, dst *sensors.Frame) error

// Next calls fn.
func (fn FrameFunc) Next(ctx context.Context, dst *sensors.Frame) error { return fn(ctx, dst) }

// ErrNoAgent means the agent's status server could not be reached.
var ErrNoAgent = errors.New("calibrate: agent not reachable")

// HTTPSource reads frames from a running agent's /api/frame, so calibration
// never competes with the agent for the I2C bus.
type HTTPSource struct {
	base   string
	client *http.Client
	poll   time.Duration

	mu      sync.Mutex
	lastSeq uint64
	started bool
	rois    sensors.ROIs
}

// NewHTTPSource reads from the agent at base, e.g. "http://127.0.0.1:8080".
// A nil client means one with a 5 second timeout.
func NewHTTPSource(base string, client *http.Client) *HTTPSource {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &HTTPSource{base: strings.TrimSuffix(base, "/"), client: client, poll: 100 * time.Millisecond}
}

// URL is the frame URL.
func (s *HTTPSource) URL() string { return s.base + "/api/frame" }

// ROIs are the regions the agent reported with the last frame.
func (s *HTTPSource) ROIs() sensors.ROIs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rois
}

// Next returns the first frame at once, then waits for a frame with a new
// sequence number (polling every 100 ms).
func (s *HTTPSource) Next(ctx context.Context, dst *sensors.Frame) error {
	for {
		rois, err := s.fetch(ctx, dst)
		if errors.Is(err, errNoFrameYet) {
			// The agent is up but its camera has not produced a frame
			// yet (just started, or re-initialising): wait for one.
			if werr := sleepCtx(ctx, s.poll); werr != nil {
				return fmt.Errorf("%w (waiting for the agent's first frame)", werr)
			}
			continue
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		fresh := !s.started || dst.Seq != s.lastSeq
		if fresh {
			s.started, s.lastSeq, s.rois = true, dst.Seq, rois
		}
		s.mu.Unlock()
		if fresh {
			return nil
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

var (
	_ FrameSource = FrameFunc(nil)
	_ FrameSource = (*HTTPSource)(nil)
)

// errNoFrameYet is the agent's 503: running, but no thermal frame yet.
var errNoFrameYet = errors.New("calibrate: the agent has no thermal frame yet")

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *HTTPSource) fetch(ctx context.Context, dst *sensors.Frame) (sensors.ROIs, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("calibrate: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return sensors.ROIs{}, ctx.Err()
		}
		return sensors.ROIs{}, fmt.Errorf("%w at %s: %w", ErrNoAgent, s.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("calibrate: read %s: %w", s.URL(), err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return sensors.ROIs{}, errNoFrameYet
	}
	if resp.StatusCode != http.StatusOK {
		return sensors.ROIs{}, fmt.Errorf("%s: %s: %s", s.URL(), resp.Status, strings.TrimSpace(string(body)))
	}
	rois, err := status.DecodeFrame(body, dst)
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("calibrate: %s: %w", s.URL(), err)
	}
	return rois, nil
}

// AgentROIsFile asks the agent at base (its /api/status) which ROI file it
// reads. reported is false when the agent does not say (an older agent);
// a reported empty path means its regions come from the binary and no file
// can change them. An agent that cannot be reached gives an error wrapping
// ErrNoAgent. A nil client means one with a 3 second timeout.
func AgentROIsFile(ctx context.Context, base string, client *http.Client) (path string, reported bool, err error) {
	if client == nil {
		client = &http.Client{Timeout: 3 * time.Second}
	}
	u := strings.TrimSuffix(base, "/") + "/api/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", false, fmt.Errorf("calibrate: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("%w at %s: %w", ErrNoAgent, base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", false, fmt.Errorf("calibrate: read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("calibrate: %s: %s", u, resp.Status)
	}
	var doc struct {
		ROIsFile *string `json:"rois_file"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", false, fmt.Errorf("calibrate: %s: %w", u, err)
	}
	if doc.ROIsFile == nil {
		return "", false, nil
	}
	p := *doc.ROIsFile
	if p != "" && !filepath.IsAbs(p) {
		return "", false, fmt.Errorf("calibrate: %s: rois_file %q is not an absolute path", u, p)
	}
	return p, true, nil
}
