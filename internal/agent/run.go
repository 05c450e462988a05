package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/publish/greengrass"
)

// ErrNoConfig is returned by New without a configuration.
var ErrNoConfig = errors.New("agent: no configuration")

// Opts configures an Agent.
type Opts struct {
	// Logger; nil discards.
	Logger *slog.Logger
	// Stdout is where the stdout publisher writes; nil discards.
	Stdout io.Writer
	// Stderr is where the status page's address is announced for people
	// and test harnesses ("stirling: status page on http://..."); nil
	// discards.
	Stderr io.Writer
	// Greengrass is the IPC client when the agent runs as a component (see
	// LoadConfig); nil outside Greengrass. The agent reports RUNNING on it
	// and applies deployment configuration changes live. The caller closes
	// it after Run.
	Greengrass *greengrass.Client
	// StopAfter stops the agent cleanly after this much sensor time; 0
	// runs until ctx is done.
	StopAfter time.Duration
	// Reconfigure, if set, adjusts each configuration a deployment brings
	// before the agent runs it (command-line overrides).
	Reconfigure func(*configs.Config)
}

// DefaultOpts discards logs and output and runs until ctx is done.
func DefaultOpts() Opts { return Opts{} }

// Agent runs the agent's stages with one configuration after another.
type Agent struct {
	o   Opts
	cfg *configs.Config

	mu  sync.Mutex
	cur *agent // the stages now running (or last run)
}

// New checks cfg at the start gate (CheckStart), then opens the spool, the
// pipeline and the publishers; the sensors open in Run. opts may be nil.
func New(ctx context.Context, cfg *configs.Config, opts *Opts) (*Agent, error) {
	if cfg == nil {
		return nil, ErrNoConfig
	}
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if err := CheckStart(cfg, nil); err != nil {
		return nil, err
	}
	a := &Agent{o: o, cfg: cfg}
	cur, err := newAgent(ctx, cfg, &a.o)
	if err != nil {
		return nil, err
	}
	a.cur = cur
	return a, nil
}

// Run runs the stages until ctx is done or StopAfter is reached (nil), or
// a stage fails (the error). A valid deployment configuration restarts the
// stages in process with it; the spool keeps everything across the
// restart. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	log := a.o.Logger
	reload := make(chan *configs.Config, 1)
	if gg := a.o.Greengrass; gg != nil {
		go watchGreengrassConfig(ctx, gg, a.cfg, reload, log)
	}
	cur := a.current()
	for {
		next, err := cur.run(ctx, a.o.StopAfter, reload)
		if err != nil {
			return err
		}
		if next == nil {
			log.Info("stopped")
			return nil
		}
		log.Info("configuration changed: restarting the agent's stages", "source", next.Source)
		if a.o.Reconfigure != nil {
			a.o.Reconfigure(next)
		}
		if cur, err = newAgent(ctx, next, &a.o); err != nil {
			return err
		}
		a.mu.Lock()
		a.cur, a.cfg = cur, next
		a.mu.Unlock()
	}
}

func (a *Agent) current() *agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// Snapshot is what the status page shows of the stages now running (or,
// after Run, of the last ones, their counters folded).
func (a *Agent) Snapshot() status.Snapshot { return a.current().Snapshot() }
