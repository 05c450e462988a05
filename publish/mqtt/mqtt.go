package mqtt

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/publish"
)

// Stats are the publisher's counters; every field is a snapshot.
type Stats struct {
	Connected       bool      // a connection is up now
	Connects        uint64    // successful connections (CONNACK accepted)
	ConnectFailures uint64    // failed connection attempts
	Disconnects     uint64    // connections lost after being up
	Published       uint64    // messages handed to the client (PUBLISH sent or queued)
	Acked           uint64    // messages acknowledged with PUBACK
	AckedReadings   uint64    // readings in acknowledged messages
	Failed          uint64    // messages whose token failed or timed out (readings left at Retry)
	Rejected        uint64    // readings rejected (cannot be encoded within MaxPayload)
	InFlight        int64     // messages published and not yet acknowledged or failed
	Bytes           uint64    // payload bytes acknowledged
	LastError       string    // most recent connection or publish error
	LastErrorAt     time.Time // when LastError happened
	ConnectedAt     time.Time // when the current (or last) connection came up
}

// Publisher publishes batches over MQTT. It is safe for concurrent use.
type Publisher struct {
	name      string
	topic     string
	log       *slog.Logger
	clk       clock.Clock
	client    paho.Client
	enc       encoderPool
	slots     chan struct{} // the in-flight window shared by all Sends: a value per unacknowledged message
	ack       time.Duration
	rate      *pacer
	reconn    time.Duration
	reconnMax time.Duration
	backoff   time.Duration
	endpoint  string
	flog      publish.FailureLog

	lost   chan error // connection-lost notifications (cap 1)
	cancel context.CancelFunc
	done   chan struct{}

	ready chan struct{} // a value after every successful connect (cap 1)

	mu      sync.Mutex
	lastErr string
	lastAt  time.Time
	upAt    time.Time
	connErr error // why the last connection attempt failed or the connection dropped; nil while connected

	connected                                              atomic.Bool
	dialFailed                                             atomic.Bool // this attempt failed before TCP+TLS were up
	connects, connFails, disconnects                       atomic.Uint64
	published, acked, ackedReadings, failed, rejected, nby atomic.Uint64
	inflight                                               atomic.Int64

	hold time.Duration // Opts.MaxLatency (see publish.Packer)
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Readier   = (*Publisher)(nil)
	_ publish.Packer    = (*Publisher)(nil)
)

// New validates opts, loads the TLS material and starts connecting in the
// background. It does not wait for the broker: an unreachable broker is
// not an error (Send fails with ErrNotConnected until it is reachable).
// A nil opts means DefaultOpts, with the identity from the Greengrass
// environment.
func New(opts *Opts) (*Publisher, error) {
	o, err := resolve(deref(opts), os.Getenv, fileExists)
	if err != nil {
		return nil, err
	}
	tlsConf, err := clientTLS(o)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		name:      o.Name,
		topic:     o.Topic,
		log:       o.Logger.With("component", "mqtt"),
		clk:       o.Clock,
		enc:       encoderPool{layout: o.Layout, device: o.Thing, max: payloadCap(o)},
		hold:      o.MaxLatency,
		slots:     make(chan struct{}, o.InFlight),
		ack:       o.AckTimeout,
		reconn:    o.ReconnectInterval,
		reconnMax: o.MaxReconnectInterval,
		backoff:   o.MaxBackoff,
		endpoint:  o.Endpoint,
		lost:      make(chan error, 1),
		done:      make(chan struct{}),
		ready:     make(chan struct{}, 1),
	}
	if o.MaxRate > 0 {
		p.rate = newPacer(o.MaxRate, o.Clock)
	}
	// No reminders of its own: the runner's once-a-minute reminder carries
	// the connection error as its cause (Send wraps it).
	p.flog = publish.FailureLog{Log: p.log, Every: -1, Now: o.Clock.Now}
	co := paho.NewClientOptions().
		AddBroker("tls://" + o.Endpoint).
		SetClientID(o.ClientID).
		SetTLSConfig(tlsConf).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(10 * time.Second).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.AckTimeout).
		SetOrderMatters(false).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			// Called synchronously inside the connection attempt.
			if _, ok := n.(paho.ConnectionNotificationBrokerFailed); ok {
				p.dialFailed.Store(true)
			}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			p.setDown(nil) // fail fast at once; the loop counts and reconnects
			select {
			case p.lost <- err:
			default:
			}
		})
	p.client = paho.NewClient(co)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.connectLoop(ctx)
	p.log.Info("publisher started", "endpoint", o.Endpoint, "client_id", o.ClientID, "topic", o.Topic, "layout", string(o.Layout), "in_flight", o.InFlight, "max_payload", o.MaxPayload)
	return p, nil
}

// Name implements publish.Publisher.
func (p *Publisher) Name() string { return p.name }

// Topic is the resolved publish topic.
func (p *Publisher) Topic() string { return p.topic }

// Ready implements publish.Readier: the returned channel (always the same)
// receives a value each time a connection comes up (a non-blocking send
// into a buffer of one), so a caller backing off after ErrNotConnected can
// retry the moment the broker is back. A value may be stale; Send then
// fails fast again.
func (p *Publisher) Ready() <-chan struct{} { return p.ready }

// Connected reports whether a connection is up now.
func (p *Publisher) Connected() bool { return p.connected.Load() }

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	s := Stats{LastError: p.lastErr, LastErrorAt: p.lastAt, ConnectedAt: p.upAt}
	p.mu.Unlock()
	s.Connected = p.connected.Load()
	s.Connects = p.connects.Load()
	s.ConnectFailures = p.connFails.Load()
	s.Disconnects = p.disconnects.Load()
	s.Published = p.published.Load()
	s.Acked = p.acked.Load()
	s.AckedReadings = p.ackedReadings.Load()
	s.Failed = p.failed.Load()
	s.Rejected = p.rejected.Load()
	s.InFlight = p.inflight.Load()
	s.Bytes = p.nby.Load()
	return s
}

func (p *Publisher) setErr(err error) {
	p.mu.Lock()
	p.lastErr, p.lastAt = err.Error(), p.clk.Now()
	p.mu.Unlock()
}

// Close stops reconnecting and disconnects (waiting up to 250 ms for
// in-flight acknowledgements).
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	return nil
}

// encoderPool hands out scratch encoders so concurrent Sends don't share
// buffers.
type encoderPool struct {
	layout Layout
	device string
	max    int
	pool   sync.Pool
}

func (e *encoderPool) get() *encoder {
	if v, ok := e.pool.Get().(*encoder); ok {
		return v
	}
	return newEncoder(e.layout, e.device, e.max)
}

func (e *encoderPool) put(v *encoder) { e.pool.Put(v) }
