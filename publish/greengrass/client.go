package greengrass

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/publish"
)

// Environment variables the nucleus sets for a component (reference §2.1).
const (
	EnvSocket = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"
	EnvToken  = "SVCUID"
)

// Opts configures a Client.
type Opts struct {
	// SocketPath is the nucleus IPC socket. Empty means $EnvSocket, used
	// verbatim (it may be relative to the component's working directory).
	SocketPath string
	// AuthToken is the CONNECT auth token. Empty means $SVCUID.
	AuthToken string
	// MaxFrame caps the size of a frame read from the nucleus; 0 means
	// MaxFrame (24 MiB).
	MaxFrame int
	// CallTimeout bounds each operation, including waiting for a connection
	// while reconnecting; 0 means 10 s.
	CallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect backoff (doubling, with
	// jitter); 0 means 200 ms and 5 s. Dialling the local socket costs
	// next to nothing and failures are logged once a minute, so the cap is
	// short: the backlog flows within about 5 s of the nucleus returning
	// from a restart.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection events, scoped component=greengrass; nil
	// discards them.
	Logger *slog.Logger
	// Clock times the reconnect and re-subscribe backoff and the failure
	// reminders; nil is the wall clock. Call deadlines (CallTimeout) are
	// context deadlines on the wall clock.
	Clock clock.Clock
}

// Defaults for the zero fields of Opts.
const (
	DefaultCallTimeout = 10 * time.Second
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// DefaultOpts returns the defaults Dial and Connect use for every zero
// field. SocketPath and AuthToken have no static default: they come from
// the component's environment ($EnvSocket, $EnvToken) when empty.
func DefaultOpts() Opts {
	return Opts{
		MaxFrame:    MaxFrame,
		CallTimeout: DefaultCallTimeout,
		MinBackoff:  DefaultMinBackoff,
		MaxBackoff:  DefaultMaxBackoff,
		Logger:      slog.New(slog.DiscardHandler),
		Clock:       clock.Real{},
	}
}

// Client is a Greengrass IPC client: one connection to the nucleus,
// multiplexing operations over event-stream RPC streams. It reconnects with
// backoff when the socket drops and re-subscribes its subscriptions. It is
// safe for concurrent use.
type Client struct {
	opts Opts
	log  *slog.Logger
	clk  clock.Clock

	mu    sync.Mutex
	cur   *conn
	ready chan struct{} // closed while cur is usable
	subs  map[*Subscription]struct{}

	notify map[chan struct{}]struct{} // Reconnected channels; guarded by mu
	// downErr is why the last connection attempt failed since the
	// connection was lost (nil while connected, and until the first
	// reconnect attempt fails); guarded by mu. Calls fail with it at once
	// instead of waiting out their deadline.
	downErr error
	downSig chan struct{} // closed when downErr is first set after a loss; guarded by mu
	flog    publish.FailureLog

	closed   chan struct{}
	closeOne sync.Once
	wg       sync.WaitGroup

	stats counters
}

// Dial connects to the nucleus and performs the CONNECT handshake. A
// rejected CONNECT returns ErrConnectRejected at once; later connection
// losses are repaired in the background until Close.
func Dial(ctx context.Context, o *Opts) (*Client, error) {
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	cn, err := dialConn(ctx, c)
	if err != nil {
		c.stats.connectErrors.Add(1)
		return nil, err
	}
	c.stats.connects.Add(1)
	c.mu.Lock()
	select {
	case <-cn.done: // already lost: the supervisor reconnects
	default:
		c.cur = cn
		close(c.ready)
	}
	c.mu.Unlock()
	c.log.Info("connected", "socket", c.opts.SocketPath)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.supervise(cn)
	}()
	return c, nil
}

// Connect returns a Client that connects in the background, at once and
// then with backoff (MinBackoff doubling to MaxBackoff, jittered) until it
// succeeds or Close, and then repairs losses as Dial's does. It fails only
// without a socket path or token. Until the first connection, calls fail
// with ErrDisconnected wrapping the last attempt's error (which wraps
// publish.ErrUnauthorized for a rejected CONNECT, publish.ErrUnavailable
// otherwise); Reconnected channels fire when it connects.
func Connect(o *Opts) (*Client, error) {
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if cn := c.reconnect(true); cn != nil {
			c.supervise(cn)
		}
	}()
	return c, nil
}

// newClient applies the defaults to o; the client has no connection yet.
func newClient(o *Opts) (*Client, error) {
	c := &Client{closed: make(chan struct{}), subs: make(map[*Subscription]struct{}), notify: make(map[chan struct{}]struct{})}
	if o != nil {
		c.opts = *o
	}
	if c.opts.SocketPath == "" {
		c.opts.SocketPath = os.Getenv(EnvSocket)
	}
	if c.opts.AuthToken == "" {
		c.opts.AuthToken = os.Getenv(EnvToken)
	}
	if c.opts.SocketPath == "" {
		return nil, ErrNoSocket
	}
	if c.opts.AuthToken == "" {
		return nil, ErrNoToken
	}
	if c.opts.MaxFrame <= 0 || c.opts.MaxFrame > MaxFrame {
		c.opts.MaxFrame = MaxFrame
	}
	if c.opts.CallTimeout <= 0 {
		c.opts.CallTimeout = DefaultCallTimeout
	}
	if c.opts.MinBackoff <= 0 {
		c.opts.MinBackoff = DefaultMinBackoff
	}
	if c.opts.MaxBackoff < c.opts.MinBackoff {
		c.opts.MaxBackoff = max(DefaultMaxBackoff, c.opts.MinBackoff)
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if c.opts.Clock == nil {
		c.opts.Clock = clock.Real{}
	}
	c.clk = c.opts.Clock
	c.log = c.opts.Logger.With("component", "greengrass")
	// No reminders of its own: a publisher's runner reminds once a minute
	// with the connection error as its cause, and the configuration watch
	// has its own.
	c.flog = publish.FailureLog{Log: c.log, Every: -1, Now: c.clk.Now}
	c.ready = make(chan struct{})
	c.downSig = make(chan struct{})
	return c, nil
}

// Close closes the connection and stops reconnecting. Subscriptions end.
func (c *Client) Close() error {
	c.closeOne.Do(func() {
		close(c.closed)
		c.mu.Lock()
		cn := c.cur
		c.mu.Unlock()
		if cn != nil {
			cn.close(ErrClosed)
		}
	})
	c.wg.Wait()
	return nil
}

// supervise waits for the connection to end and reconnects with backoff.
func (c *Client) supervise(cn *conn) {
	for {
		select {
		case <-c.closed:
			return
		case <-cn.done:
		}
		select {
		case <-c.closed:
			return
		default:
		}
		c.log.Warn("connection lost; reconnecting", "err", cn.closeErr())
		cn = c.reconnect(false)
		if cn == nil {
			return
		}
	}
}

// reconnect dials until it succeeds or the client is closed; first dials
// once at once (Connect) instead of waiting the first backoff. Failures are
// logged once, then reminded once a minute (publish.FailureLog).
func (c *Client) reconnect(first bool) *conn {
	backoff := c.opts.MinBackoff
	for {
		if !first {
			// Full jitter on the upper half keeps a fleet from reconnecting in step.
			d := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-c.closed:
				return nil
			case <-c.clk.After(d):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.CallTimeout)
		cn, err := dialConn(ctx, c)
		cancel()
		if err != nil {
			c.stats.connectErrors.Add(1)
			class := publish.ErrUnavailable
			if errors.Is(err, ErrConnectRejected) {
				class = publish.ErrUnauthorized
			}
			err = fmt.Errorf("%w (%w)", err, class)
			c.mu.Lock()
			if c.downErr == nil {
				close(c.downSig)
			}
			c.downErr = err
			c.mu.Unlock()
			if first {
				backoff = c.opts.MinBackoff / 2 // the first wait is MinBackoff
			}
			backoff = min(2*backoff, c.opts.MaxBackoff)
			c.flog.Fail("connect failing", "still failing to connect", err, "socket", c.opts.SocketPath, "retry_in", backoff)
			first = false
			continue
		}
		c.stats.connects.Add(1)
		if first {
			c.log.Info("connected", "socket", c.opts.SocketPath)
		} else {
			c.stats.reconnects.Add(1)
		}
		if c.flog.Recovered("reconnected", "socket", c.opts.SocketPath) == 0 && !first {
			c.log.Info("reconnected")
		}
		c.mu.Lock()
		select {
		case <-c.closed: // Close ran while we dialled
			c.mu.Unlock()
			cn.close(ErrClosed)
			return nil
		default:
		}
		c.cur = cn
		if c.downErr != nil {
			c.downErr, c.downSig = nil, make(chan struct{})
		}
		select {
		case <-c.ready:
		default:
			close(c.ready)
		}
		subs := make([]*Subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		for _, s := range subs {
			s.activate(cn)
		}
		c.mu.Lock()
		for ch := range c.notify {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
		return cn
	}
}

// Reconnected returns a new channel that receives a value each time a lost
// connection has been restored (coalesced: at most one pending value).
// Release it with StopReconnected.
func (c *Client) Reconnected() <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.notify[ch] = struct{}{}
	c.mu.Unlock()
	return ch
}

// StopReconnected releases a channel returned by Reconnected.
func (c *Client) StopReconnected(ch <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.notify {
		if k == ch {
			delete(c.notify, k)
		}
	}
}

// conn waits for a usable connection.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cn, ready, down, downSig := c.cur, c.ready, c.downErr, c.downSig
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if down != nil {
			// A reconnect attempt already failed: the nucleus is away, not
			// blinking. Fail at once with the reason.
			return nil, fmt.Errorf("%w: %w", ErrDisconnected, down)
		}
		select {
		case <-c.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for reconnect: %w", ErrDisconnected, ctx.Err())
		case <-ready:
		case <-downSig:
		}
	}
}

// detach forgets cn as the current connection; called as cn closes.
func (c *Client) detach(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
		c.ready = make(chan struct{})
	}
	c.mu.Unlock()
}
