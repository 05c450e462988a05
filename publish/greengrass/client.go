package greengrass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

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
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Client is a Greengrass IPC client: one connection to the nucleus,
// multiplexing operations over event-stream RPC streams. It reconnects with
// backoff when the socket drops and re-subscribes its subscriptions. It is
// safe for concurrent use.
type Client struct {
	opts Opts
	log  *slog.Logger

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
	c.log.Info("IPC connected", "socket", c.opts.SocketPath)
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
		c.opts.CallTimeout = 10 * time.Second
	}
	if c.opts.MinBackoff <= 0 {
		c.opts.MinBackoff = 200 * time.Millisecond
	}
	if c.opts.MaxBackoff < c.opts.MinBackoff {
		c.opts.MaxBackoff = max(5*time.Second, c.opts.MinBackoff)
	}
	c.log = c.opts.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "greengrass")
	// No reminders of its own: a publisher's runner reminds once a minute
	// with the connection error as its cause, and the configuration watch
	// has its own.
	c.flog = publish.FailureLog{Log: c.log, Every: -1}
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
		c.log.Warn("IPC connection lost; reconnecting", "err", cn.closeErr())
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
			case <-time.After(d):
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
			c.flog.Fail("IPC connect failing", "IPC still failing to connect", err, "socket", c.opts.SocketPath, "retry_in", backoff)
			first = false
			continue
		}
		c.stats.connects.Add(1)
		if first {
			c.log.Info("IPC connected", "socket", c.opts.SocketPath)
		} else {
			c.stats.reconnects.Add(1)
		}
		if c.flog.Recovered("IPC reconnected", "socket", c.opts.SocketPath) == 0 && !first {
			c.log.Info("IPC reconnected")
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

// invoke runs a request/response operation and decodes its response into
// resp (which may be nil).
func (c *Client) invoke(ctx context.Context, op string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	cn, err := c.conn(ctx)
	if err != nil {
		c.countErr(err)
		return fmt.Errorf("greengrass: %s: %w", op, err)
	}
	c.stats.calls.Add(1)
	f, _, err := cn.call(ctx, op, req, nil, nil)
	if err != nil {
		c.countErr(err)
		return err
	}
	if resp != nil && len(f.payload) > 0 {
		if err := json.Unmarshal(f.payload, resp); err != nil {
			c.countError("protocol")
			return fmt.Errorf("%w: %s: decode response: %w", ErrProtocol, op, err)
		}
	}
	return nil
}

// QoS is an MQTT quality of service as IPC spells it: the strings "0" and "1".
type QoS string

// QoS levels.
const (
	AtMostOnce  QoS = "0"
	AtLeastOnce QoS = "1"
)

// PublishToIoTCore hands payload to the nucleus for publishing to AWS IoT
// Core on topic. Success means only that the nucleus queued the message in
// its spooler (in memory by default, 2.5 MB, oldest dropped when full; QoS 1
// messages are dropped after 100 failed publish attempts). It is not a
// PUBACK from IoT Core.
func (c *Client) PublishToIoTCore(ctx context.Context, topic string, qos QoS, payload []byte) error {
	req := struct {
		TopicName string `json:"topicName"`
		QoS       QoS    `json:"qos"`
		Payload   []byte `json:"payload"` // base64 with padding, as Gson expects
	}{topic, qos, payload}
	if payload == nil {
		req.Payload = []byte{} // the nucleus rejects a null payload
	}
	if err := c.invoke(ctx, "PublishToIoTCore", req, nil); err != nil {
		return err
	}
	c.stats.queuedInNucleus.Add(1)
	return nil
}

// GetConfiguration returns this component's configuration at keyPath (all
// of it for an empty keyPath). For a leaf key the nucleus wraps the value as
// {"<leafKey>": value}.
func (c *Client) GetConfiguration(ctx context.Context, keyPath []string) (map[string]any, error) {
	if keyPath == nil {
		keyPath = []string{}
	}
	req := struct {
		KeyPath []string `json:"keyPath"`
	}{keyPath}
	var resp struct {
		Value map[string]any `json:"value"`
	}
	if err := c.invoke(ctx, "GetConfiguration", req, &resp); err != nil {
		return nil, err
	}
	if resp.Value == nil {
		resp.Value = map[string]any{}
	}
	return resp.Value, nil
}

// State is a component state reported with UpdateState.
type State string

// States a component may report.
const (
	StateRunning State = "RUNNING"
	StateErrored State = "ERRORED"
)

// UpdateState reports the component's state to the nucleus (needed only
// with a Startup lifecycle step).
func (c *Client) UpdateState(ctx context.Context, s State) error {
	req := struct {
		State State `json:"state"`
	}{s}
	return c.invoke(ctx, "UpdateState", req, nil)
}

// ConfigurationUpdate is one SubscribeToConfigurationUpdate event: the key
// that changed (events carry no values; fetch them with GetConfiguration).
type ConfigurationUpdate struct {
	ComponentName string   `json:"componentName"`
	KeyPath       []string `json:"keyPath"`
}

// Subscription is a live streaming operation. It is re-activated on every
// reconnect until Close.
type Subscription struct {
	c       *Client
	op      string
	req     any
	onEvent func(frame)
	// onActive is called after each (re)activation; nil allowed.
	onActive func()

	mu    sync.Mutex
	cn    *conn
	id    int32
	end   bool
	retry time.Duration // delay before re-subscribing after the nucleus ended the stream
}

// SubscribeToConfigurationUpdate calls fn (from the connection's read
// goroutine: it must not block) for each configuration change under keyPath.
// After a reconnect the subscription is re-established and onResubscribe
// (may be nil) is called, because changes made while disconnected produce no
// events.
func (c *Client) SubscribeToConfigurationUpdate(ctx context.Context, keyPath []string, fn func(ConfigurationUpdate), onResubscribe func()) (*Subscription, error) {
	if keyPath == nil {
		keyPath = []string{}
	}
	req := struct {
		KeyPath []string `json:"keyPath"`
	}{keyPath}
	s := &Subscription{c: c, op: "SubscribeToConfigurationUpdate", req: req, onActive: onResubscribe}
	s.onEvent = func(f frame) {
		var ev struct {
			Event *ConfigurationUpdate `json:"configurationUpdateEvent"`
		}
		if err := json.Unmarshal(f.payload, &ev); err != nil || ev.Event == nil {
			c.countError("protocol")
			c.log.Warn("undecodable configuration update event", "err", err)
			return
		}
		fn(*ev.Event)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	cn, err := c.conn(ctx)
	if err != nil {
		c.countErr(err)
		return nil, fmt.Errorf("greengrass: %s: %w", s.op, err)
	}
	if err := s.start(ctx, cn); err != nil {
		c.countErr(err)
		return nil, err
	}
	c.mu.Lock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s, nil
}

func (s *Subscription) start(ctx context.Context, cn *conn) error {
	s.c.stats.calls.Add(1)
	onEnd := func(err error) {
		select {
		case <-s.c.closed:
			return
		case <-cn.done:
			return // the reconnect re-subscribes
		default:
		}
		s.mu.Lock()
		end := s.end
		s.retry = min(max(2*s.retry, 5*s.c.opts.MinBackoff), s.c.opts.MaxBackoff)
		delay := s.retry
		s.mu.Unlock()
		if end {
			return
		}
		// The nucleus ended the stream while the connection lives on.
		s.c.log.Warn("subscription ended by the nucleus; re-subscribing", "op", s.op, "err", err, "delay", delay)
		go func() {
			select {
			case <-s.c.closed:
			case <-cn.done:
			case <-time.After(delay):
				s.activate(cn)
			}
		}()
	}
	onEvent := func(f frame) {
		s.mu.Lock()
		s.retry = 0
		s.mu.Unlock()
		s.onEvent(f)
	}
	_, id, err := cn.call(ctx, s.op, s.req, onEvent, onEnd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cn, s.id = cn, id
	s.mu.Unlock()
	return nil
}

// activate re-subscribes on a new connection.
func (s *Subscription) activate(cn *conn) {
	s.mu.Lock()
	end := s.end
	s.mu.Unlock()
	if end {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.CallTimeout)
	defer cancel()
	if err := s.start(ctx, cn); err != nil {
		s.c.countErr(err)
		s.c.log.Error("re-subscribe failed", "op", s.op, "err", err)
		return
	}
	s.c.stats.resubscribes.Add(1)
	if s.onActive != nil {
		s.onActive()
	}
}

// Close cancels the subscription.
func (s *Subscription) Close() error {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
	s.mu.Lock()
	s.end = true
	cn, id := s.cn, s.id
	s.mu.Unlock()
	if cn != nil {
		cn.terminate(id)
	}
	return nil
}

// countErr classifies err into the error counters.
func (c *Client) countErr(err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
		c.countError(e.Code)
	case errors.Is(err, ErrClosed):
	case errors.Is(err, ErrFrame):
		// counted where the frame was read
	case errors.Is(err, ErrProtocol):
		c.countError("protocol")
	case errors.Is(err, context.DeadlineExceeded):
		c.countError("timeout")
	case errors.Is(err, context.Canceled):
	default:
		c.countError("transport")
	}
}

func (c *Client) countError(code string) {
	c.stats.mu.Lock()
	if c.stats.errors == nil {
		c.stats.errors = make(map[string]uint64)
	}
	c.stats.errors[code]++
	c.stats.mu.Unlock()
}

type counters struct {
	connects, reconnects, connectErrors     atomic.Uint64
	calls, queuedInNucleus, resubscribes    atomic.Uint64
	configApplied, configRejected, cfgFetch atomic.Uint64

	mu     sync.Mutex
	errors map[string]uint64
}

// Stats are the client's counters since Dial.
type Stats struct {
	Connects      uint64 // successful CONNECT handshakes, the first included
	Reconnects    uint64 // successful CONNECTs after a lost connection
	ConnectErrors uint64 // failed dials or handshakes (ErrConnectRejected included)
	Calls         uint64 // operations started (publishes, config reads, subscriptions, ...)
	// QueuedInNucleus counts PublishToIoTCore successes. The nucleus only
	// queued these messages in its spooler; it is not IoT Core delivery.
	QueuedInNucleus uint64
	Resubscribes    uint64 // subscriptions re-established after a reconnect
	// ConfigApplied and ConfigRejected count configurations passed to, and
	// refused by, WatchConfiguration's apply func (the first one included).
	ConfigApplied, ConfigRejected uint64
	ConfigFetches                 uint64 // GetConfiguration calls made by WatchConfiguration
	// Errors counts failures by IPC error code ("ServiceError",
	// "UnauthorizedError", "InvalidArgumentsError", "InternalServerError",
	// ...) and by local kind: "malformed_frame", "protocol", "timeout",
	// "transport".
	Errors map[string]uint64
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Connects:        c.stats.connects.Load(),
		Reconnects:      c.stats.reconnects.Load(),
		ConnectErrors:   c.stats.connectErrors.Load(),
		Calls:           c.stats.calls.Load(),
		QueuedInNucleus: c.stats.queuedInNucleus.Load(),
		Resubscribes:    c.stats.resubscribes.Load(),
		ConfigApplied:   c.stats.configApplied.Load(),
		ConfigRejected:  c.stats.configRejected.Load(),
		ConfigFetches:   c.stats.cfgFetch.Load(),
		Errors:          map[string]uint64{},
	}
	c.stats.mu.Lock()
	for k, v := range c.stats.errors {
		s.Errors[k] = v
	}
	c.stats.mu.Unlock()
	return s
}

// PublishToTopic publishes payload as a binary message on the nucleus's
// local pub/sub bus (other components, not IoT Core).
func (c *Client) PublishToTopic(ctx context.Context, topic string, payload []byte) error {
	if payload == nil {
		payload = []byte{}
	}
	type binaryMessage struct {
		Message []byte `json:"message"`
	}
	type publishMessage struct {
		BinaryMessage binaryMessage `json:"binaryMessage"`
	}
	req := struct {
		Topic          string         `json:"topic"`
		PublishMessage publishMessage `json:"publishMessage"`
	}{topic, publishMessage{binaryMessage{payload}}}
	if err := c.invoke(ctx, "PublishToTopic", req, nil); err != nil {
		return err
	}
	c.stats.queuedInNucleus.Add(1)
	return nil
}
