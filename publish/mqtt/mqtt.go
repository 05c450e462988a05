package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// Limits and defaults (AWS IoT Core quotas; see docs/mqtt.md).
const (
	// MaxPayload is IoT Core's PUBLISH payload limit (128 KB).
	MaxPayload = 128 * 1024
	// MaxInFlight is IoT Core's limit of unacknowledged QoS 1 messages.
	MaxInFlight = 100
	// MaxClientID is IoT Core's client ID limit in bytes.
	MaxClientID = 128
	// MinKeepAlive and MaxKeepAlive bound the keep-alive IoT Core accepts.
	MinKeepAlive = 30 * time.Second
	MaxKeepAlive = 1200 * time.Second
	// DefaultKeepAlive is what the Greengrass nucleus uses.
	DefaultKeepAlive = 60 * time.Second
	// DefaultPort is MQTT over TLS; port 443 needs ALPN (ALPN443).
	DefaultPort = 8883
	// ALPN443 is the ALPN protocol IoT Core expects for MQTT on port 443.
	ALPN443 = "x-amzn-mqtt-ca"
	// DefaultMaxRate is IoT Core's publish limit per connection (messages/s).
	DefaultMaxRate = 100
	// DefaultTopic is the telemetry topic, after AWS's topic-design
	// guidance dt/<application>/<thing>/<type>.
	DefaultTopic = "dt/stirling/{thing}/telemetry"
)

// Errors.
var (
	// ErrNotConnected: Send was called while there is no connection; every
	// reading stays Retry.
	ErrNotConnected = errors.New("mqtt: not connected")
	// ErrClosed: the publisher was closed.
	ErrClosed = errors.New("mqtt: publisher closed")
	// ErrConfig is wrapped by every option error from New.
	ErrConfig = errors.New("mqtt: bad option")
)

// OptError is an invalid option. Opt names it as the agent's configuration
// does (endpoint, cert_file, key_file, ca_file, topic, ...; "thing" for the
// thing name). It matches ErrConfig and the underlying error, if any.
type OptError struct {
	Opt string
	Msg string
	Err error // the cause (a file error, ErrTopic); may be nil
}

func (e *OptError) Error() string { return ErrConfig.Error() + ": " + e.Opt + ": " + e.Msg }

// Unwrap returns ErrConfig and the cause.
func (e *OptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.Err}
}

// Opts configures a Publisher. Zero values take the defaults documented per
// field; see Greengrass for how an unset identity is filled in on a core
// device.
type Opts struct {
	// Name identifies the publisher (logs, stats, spool cursor). Default "mqtt".
	Name string
	// Endpoint is host or host:port of the broker; the port defaults to
	// 8883. With port 443 the client offers ALPN "x-amzn-mqtt-ca".
	Endpoint string
	// Thing is the device name carried in every message and used in the
	// default client ID and topic. Default: $AWS_IOT_THING_NAME.
	Thing string
	// ClientID defaults to "<thing>-stirling" (the thing name itself is
	// the Greengrass nucleus's own client ID, and IoT Core drops the older
	// of two connections with the same ID). At most 128 bytes.
	ClientID string
	// Topic may contain {thing}. Default DefaultTopic.
	Topic string
	// BasicIngestRule, when set, prefixes the topic with $aws/rules/<rule>/
	// (Basic Ingest: straight to the rules engine, no messaging charge).
	BasicIngestRule string
	// Layout is Sample or Batch. Default Batch.
	Layout Layout
	// CertFile, KeyFile and CAFile are PEM files for mutual TLS. On a
	// Greengrass core device they default to the nucleus's own device
	// credentials (see Greengrass). CAFile empty means the system roots.
	CertFile, KeyFile, CAFile string
	// KeepAlive, 30 s to 1200 s. Default 60 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (TCP, TLS, CONNACK).
	// Default 10 s.
	ConnectTimeout time.Duration
	// AckTimeout is how long a message may wait for its PUBACK before its
	// readings are left at Retry. Default 10 s.
	AckTimeout time.Duration
	// InFlight is the window of unacknowledged messages, 1 to 100.
	// Default 100.
	InFlight int
	// MaxPayload is the largest payload in bytes, 1 KiB to 128 KiB.
	// Default 128 KiB.
	MaxPayload int
	// MaxRate limits publishes per second (IoT Core allows 100 per
	// connection). 0 means the default 100; negative means no limit.
	MaxRate int
	// ReconnectInterval is the first pause after a failed attempt while the
	// broker is unreachable (refused, no route, timed out); it doubles
	// with every failure up to MaxReconnectInterval. Each pause is jittered
	// between half and all of it. Default 250 ms.
	ReconnectInterval time.Duration
	// MaxReconnectInterval caps that backoff. Default 1 s: an attempt at an
	// unreachable broker costs one SYN (and its RST or ICMP answer), and the
	// cap bounds how long after the network comes back delivery resumes (at
	// most about 1 s plus the TLS handshake). The log is not tied to
	// attempts: one line when the failure starts, then one reminder a
	// minute.
	MaxReconnectInterval time.Duration
	// MaxBackoff caps the exponential backoff (from 1 s) after the broker
	// answered and refused: a CONNACK refusal, a TLS verdict, a drop before
	// CONNACK. Default 1 min: a refusal needs an operator, every attempt is
	// a full TLS handshake that IoT Core throttles per client ID, and a
	// fixed policy is noticed within a minute.
	MaxBackoff time.Duration
	// TLS, when set, is used as is instead of CertFile/KeyFile/CAFile.
	TLS *tls.Config
}

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
	client    paho.Client
	enc       encoderPool
	window    chan struct{}
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
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Readier   = (*Publisher)(nil)
)

// Check resolves and validates opts exactly as New does, including reading
// and matching the certificate, key and CA files, without connecting. Its
// errors are *OptError naming the option.
func Check(opts Opts) error {
	o, err := resolve(opts, os.Getenv, fileExists)
	if err != nil {
		return err
	}
	_, err = clientTLS(o)
	return err
}

// New validates opts, loads the TLS material and starts connecting in the
// background. It does not wait for the broker: an unreachable broker is
// not an error (Send fails with ErrNotConnected until it is reachable).
func New(opts Opts, log *slog.Logger) (*Publisher, error) {
	o, err := resolve(opts, os.Getenv, fileExists)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := clientTLS(o)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		name:      o.Name,
		topic:     o.Topic,
		log:       log.With("component", "mqtt"),
		enc:       encoderPool{layout: o.Layout, device: o.Thing, max: o.MaxPayload},
		window:    make(chan struct{}, o.InFlight),
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
		p.rate = newPacer(o.MaxRate)
	}
	// No reminders of its own: the runner's once-a-minute reminder carries
	// the connection error as its cause (Send wraps it).
	p.flog = publish.FailureLog{Log: p.log, Every: -1}
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
	p.log.Info("mqtt publisher started", "endpoint", o.Endpoint, "client_id", o.ClientID, "topic", o.Topic, "layout", string(o.Layout), "in_flight", o.InFlight, "max_payload", o.MaxPayload)
	return p, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resolve fills in defaults and validates.
func resolve(o Opts, getenv func(string) string, exists func(string) bool) (Opts, error) {
	if o.Name == "" {
		o.Name = "mqtt"
	}
	if o.Thing == "" {
		o.Thing = getenv("AWS_IOT_THING_NAME")
	}
	gg := Greengrass(getenv, exists)
	if o.Endpoint == "" {
		o.Endpoint = gg.Endpoint
	}
	if o.CertFile == "" && o.KeyFile == "" && o.TLS == nil {
		o.CertFile, o.KeyFile = gg.CertFile, gg.KeyFile
	}
	if o.CAFile == "" && o.TLS == nil {
		o.CAFile = gg.CAFile
	}
	bad := func(opt, format string, args ...any) (Opts, error) {
		return o, &OptError{Opt: opt, Msg: fmt.Sprintf(format, args...)}
	}
	if o.Thing == "" {
		return bad("thing", "empty thing name (set device.thing_name, or run under Greengrass, which sets AWS_IOT_THING_NAME)")
	}
	if o.Endpoint == "" {
		return bad("endpoint", "empty; want the account's IoT data endpoint, e.g. abc123-ats.iot.eu-west-1.amazonaws.com:8883 (`aws iot describe-endpoint --endpoint-type iot:Data-ATS`); only a Greengrass core device has one to fall back on")
	}
	if _, _, err := net.SplitHostPort(o.Endpoint); err != nil {
		o.Endpoint = net.JoinHostPort(o.Endpoint, strconv.Itoa(DefaultPort))
	}
	if host, port, err := net.SplitHostPort(o.Endpoint); err != nil || host == "" {
		return bad("endpoint", "%q: want host or host:port", o.Endpoint)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("endpoint", "%q: bad port", o.Endpoint)
	}
	if o.ClientID == "" {
		o.ClientID = o.Thing + "-stirling"
	}
	if len(o.ClientID) > MaxClientID {
		return bad("client_id", "client ID %q: %d bytes, at most %d", o.ClientID, len(o.ClientID), MaxClientID)
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	o.Topic = strings.ReplaceAll(o.Topic, "{thing}", o.Thing)
	if o.BasicIngestRule != "" {
		if err := ValidateRuleName(o.BasicIngestRule); err != nil {
			return bad("basic_ingest_rule", "%v", err)
		}
		o.Topic = BasicIngestPrefix + o.BasicIngestRule + "/" + o.Topic
	}
	if err := ValidateTopic(o.Topic); err != nil {
		return o, &OptError{Opt: "topic", Msg: err.Error(), Err: err}
	}
	switch o.Layout {
	case "":
		o.Layout = Batch
	case Sample, Batch:
	default:
		return bad("layout", "%q: want %q or %q", o.Layout, Sample, Batch)
	}
	if o.TLS == nil && o.CertFile == "" {
		return bad("cert_file", "empty; cert_file and key_file are both needed for mutual TLS (only a Greengrass core device has its own to fall back on)")
	}
	if o.TLS == nil && o.KeyFile == "" {
		return bad("key_file", "empty; cert_file and key_file are both needed for mutual TLS")
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.KeepAlive < MinKeepAlive || o.KeepAlive > MaxKeepAlive {
		return bad("keepalive", "%v: want %v to %v", o.KeepAlive, MinKeepAlive, MaxKeepAlive)
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			return fmt.Errorf("%w: %s %v: must be positive", ErrConfig, name, *d)
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&o.ConnectTimeout, 10 * time.Second, "connect timeout"},
		{&o.AckTimeout, 10 * time.Second, "ack timeout"},
		{&o.ReconnectInterval, 250 * time.Millisecond, "reconnect interval"},
		{&o.MaxReconnectInterval, time.Second, "max reconnect interval"},
		{&o.MaxBackoff, time.Minute, "max backoff"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return o, err
		}
	}
	o.MaxReconnectInterval = max(o.MaxReconnectInterval, o.ReconnectInterval)
	if o.InFlight == 0 {
		o.InFlight = MaxInFlight
	}
	if o.InFlight < 1 || o.InFlight > MaxInFlight {
		return bad("in_flight", "in-flight window %d: want 1 to %d", o.InFlight, MaxInFlight)
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = MaxPayload
	}
	if o.MaxPayload < 1024 || o.MaxPayload > MaxPayload {
		return bad("max_payload", "max payload %d: want 1024 to %d bytes", o.MaxPayload, MaxPayload)
	}
	if o.MaxRate == 0 {
		o.MaxRate = DefaultMaxRate
	}
	return o, nil
}

// clientTLS builds the TLS configuration for a resolved o: its TLS field
// or the certificate files, the endpoint's host as server name, and ALPN
// x-amzn-mqtt-ca on port 443.
func clientTLS(o Opts) (*tls.Config, error) {
	c := o.TLS
	if c == nil {
		var err error
		if c, err = loadTLS(o); err != nil {
			return nil, err
		}
	} else {
		c = c.Clone()
	}
	host, port, _ := net.SplitHostPort(o.Endpoint)
	if port == "443" {
		c.NextProtos = []string{ALPN443}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c, nil
}

// loadTLS reads and checks the certificate, key and CA files, naming the
// file at fault: each must be readable, the certificate and the key must
// parse and belong together, and the CA file must hold a certificate.
func loadTLS(o Opts) (*tls.Config, error) {
	certPEM, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, &OptError{Opt: "cert_file", Msg: err.Error(), Err: err}
	}
	keyPEM, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, &OptError{Opt: "key_file", Msg: err.Error(), Err: err}
	}
	if blk, _ := pem.Decode(certPEM); blk == nil || blk.Type != "CERTIFICATE" {
		return nil, &OptError{Opt: "cert_file", Msg: fmt.Sprintf("%s: no PEM CERTIFICATE block", o.CertFile)}
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, &OptError{Opt: "cert_file", Msg: fmt.Sprintf("%s: %v", o.CertFile, err), Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", o.KeyFile, err)
		if strings.Contains(err.Error(), "does not match") {
			msg = fmt.Sprintf("%s does not match the certificate %s (%v)", o.KeyFile, o.CertFile, err)
		}
		return nil, &OptError{Opt: "key_file", Msg: msg, Err: err}
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &OptError{Opt: "ca_file", Msg: err.Error(), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &OptError{Opt: "ca_file", Msg: fmt.Sprintf("%s: no PEM certificates", o.CAFile)}
		}
		c.RootCAs = pool
	}
	return c, nil
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
	p.lastErr, p.lastAt = err.Error(), time.Now()
	p.mu.Unlock()
}

// Close stops reconnecting and disconnects (waiting up to 250 ms for
// in-flight acknowledgements).
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	return nil
}

// minUptime: a connection that drops sooner than this after its CONNACK
// counts as a failed attempt (IoT Core drops a client whose policy denies a
// publish or subscribe right after it connects), so a broker that accepts
// and drops at once is not reconnected in a tight loop.
const minUptime = 10 * time.Second

// connectLoop connects, waits for the connection to drop, and connects
// again, until ctx ends. It reuses the one paho client, as paho's own
// reconnect does: by the time the connection-lost handler runs, paho has
// stopped the connection's goroutines and set the status to disconnected,
// so Connect starts from a clean state (paho's warning about reuse is about
// Disconnect, which the loop calls only when it ends).
//
// Every failure backs off, exponentially and jittered: from
// ReconnectInterval up to MaxReconnectInterval while the broker is
// unreachable, from 1 s up to MaxBackoff when it answered and refused. The
// log gets one line when connecting starts to fail (and when the kind of
// failure changes), then one reminder a minute (publish.FailureLog).
func (p *Publisher) connectLoop(ctx context.Context) {
	defer close(p.done)
	defer func() {
		p.setDown(nil)
		p.client.Disconnect(250)
	}()
	refused, unreachable := 0, 0 // consecutive failures of each kind
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := func(refusal bool) time.Duration {
		var d time.Duration
		if refusal {
			refused++
			unreachable = 0
			d = min(time.Second<<min(refused-1, 16), p.backoff)
		} else {
			unreachable++
			refused = 0
			d = min(p.reconn<<min(unreachable-1, 16), p.reconnMax)
		}
		return d/2 + rand.N(d/2+1)
	}
	for {
		select { // drop a stale loss notification
		case <-p.lost:
		default:
		}
		p.dialFailed.Store(false)
		tok := p.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		if err := tok.Error(); err != nil {
			p.connFails.Add(1)
			refusal := refusedByBroker(tok, err, p.dialFailed.Load())
			cerr := p.connectError(tok, err, refusal)
			p.setDown(cerr)
			d := backoff(refusal)
			p.flog.Fail("mqtt connect failing", "mqtt still failing to connect", cerr, "retry_in", d)
			if !wait(d) {
				return
			}
			continue
		}
		p.setUp()
		upAt := time.Now()
		select {
		case err := <-p.lost:
			p.disconnects.Add(1)
			if err == nil {
				err = errors.New("connection closed")
			}
			lerr := fmt.Errorf("mqtt: connection to %s lost: %w (%w)", p.endpoint, err, publish.ErrUnavailable)
			p.setDown(lerr)
			p.log.Warn("mqtt connection lost", "err", err, "up_for", time.Since(upAt).Round(time.Millisecond))
			if time.Since(upAt) < minUptime {
				// Dropped right after connecting: back off as for a refusal.
				d := backoff(true)
				p.flog.Fail("mqtt connect failing", "mqtt still failing to connect", fmt.Errorf("mqtt: %s dropped the connection %v after CONNACK: %w (%w)", p.endpoint, time.Since(upAt).Round(time.Millisecond), err, publish.ErrUnavailable), "retry_in", d)
				if !wait(d) {
					return
				}
			} else {
				refused, unreachable = 0, 0
			}
		case <-ctx.Done():
			return
		}
	}
}

// connectError says why a connection attempt failed, wrapping
// publish.ErrUnauthorized for a broker that refused our identity or
// authorisation and publish.ErrUnavailable otherwise.
func (p *Publisher) connectError(tok paho.Token, err error, refusal bool) error {
	if ct, ok := tok.(*paho.ConnectToken); ok {
		switch rc := ct.ReturnCode(); rc {
		case packets.ErrRefusedBadUsernameOrPassword, packets.ErrRefusedNotAuthorised:
			return fmt.Errorf("mqtt: connect %s: CONNACK %d (%w): %w", p.endpoint, rc, publish.ErrUnauthorized, err)
		case 0, packets.ErrNetworkError, packets.ErrProtocolViolation:
		default:
			return fmt.Errorf("mqtt: connect %s: CONNACK %d: %w (%w)", p.endpoint, rc, err, publish.ErrUnavailable)
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		// A TLS alert from the server: it refused our client certificate.
		return fmt.Errorf("mqtt: connect %s: TLS: the broker refused the client certificate (%w): %w", p.endpoint, publish.ErrUnauthorized, err)
	}
	if refusal && p.dialFailed.Load() {
		// The server's certificate did not verify: our trust store or the
		// endpoint is wrong.
		return fmt.Errorf("mqtt: connect %s: TLS: %w (%w)", p.endpoint, err, publish.ErrUnavailable)
	}
	if refusal {
		// TCP and TLS were up and the broker closed before CONNACK: how IoT
		// Core answers a policy that denies iot:Connect.
		return fmt.Errorf("mqtt: connect %s: the broker closed the connection before CONNACK, probably a policy that denies connecting (%w): %w", p.endpoint, publish.ErrUnauthorized, err)
	}
	return fmt.Errorf("mqtt: connect %s: %w (%w)", p.endpoint, err, publish.ErrUnavailable)
}

// refusedByBroker tells a broker that answered and said no from a broker
// that could not be reached. Refusals: a CONNACK return code (identifier,
// credentials, authorisation); a server certificate that does not verify; a
// TLS alert from the server; or the connection dropped after TCP and TLS
// were up and before the CONNACK (how IoT Core answers a policy that denies
// iot:Connect, and how TLS 1.3 servers reject a client certificate). They
// will not fix themselves soon and back off from 1 s up to MaxBackoff; an
// unreachable broker (dialFailed without a TLS verdict) backs off from
// ReconnectInterval up to MaxReconnectInterval so delivery resumes quickly.
func refusedByBroker(tok paho.Token, err error, dialFailed bool) bool {
	if ct, ok := tok.(*paho.ConnectToken); ok && ct.ReturnCode() > 0 && ct.ReturnCode() < 0x80 {
		return true
	}
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &host):
		return true
	case errors.As(err, &op) && op.Op == "remote error": // a TLS alert from the server
		return true
	}
	return !dialFailed
}

func (p *Publisher) setUp() {
	p.connects.Add(1)
	p.mu.Lock()
	p.upAt = time.Now()
	p.connErr = nil
	p.mu.Unlock()
	p.connected.Store(true)
	select {
	case p.ready <- struct{}{}:
	default:
	}
	if p.flog.Recovered("mqtt connected") == 0 {
		p.log.Info("mqtt connected")
	}
}

// setDown marks the connection down; a non-nil cause becomes what Send
// reports and the last error.
func (p *Publisher) setDown(cause error) {
	p.connected.Store(false)
	if cause != nil {
		p.mu.Lock()
		p.connErr = cause
		p.lastErr, p.lastAt = cause.Error(), time.Now()
		p.mu.Unlock()
	}
}

// notConnected is Send's error while there is no connection: ErrNotConnected
// and the reason (the last attempt's error, which wraps
// publish.ErrUnauthorized or publish.ErrUnavailable).
func (p *Publisher) notConnected(batch uint64) error {
	p.mu.Lock()
	cause := p.connErr
	p.mu.Unlock()
	if cause == nil {
		return fmt.Errorf("mqtt: send batch %d: %w (connecting; %w)", batch, ErrNotConnected, publish.ErrUnavailable)
	}
	return fmt.Errorf("mqtt: send batch %d: %w: %w", batch, ErrNotConnected, cause)
}

// Send implements publish.Publisher: it encodes b into messages of at most
// MaxPayload bytes, publishes them at QoS 1 with up to InFlight
// unacknowledged at a time, and marks a message's readings Accepted when its
// PUBACK arrives. Readings that cannot fit in one message are Rejected. On
// the first failure (lost connection, ack timeout) it stops publishing, still
// collects the acknowledgements of messages already sent, and returns the
// error; readings not acknowledged stay Retry.
func (p *Publisher) Send(ctx context.Context, b *pipeline.Batch, res []publish.Result) error {
	if len(res) != len(b.Readings) {
		return fmt.Errorf("mqtt: send: %d results for %d readings", len(res), len(b.Readings))
	}
	if !p.connected.Load() {
		return p.notConnected(b.ID)
	}
	enc := p.enc.get()
	msgs := enc.encode(nil, b, res)
	p.enc.put(enc)
	for i := range res {
		if res[i].Status == publish.Rejected {
			p.rejected.Add(1)
			p.log.Warn("mqtt reading rejected", "batch", b.ID, "seq", b.Readings[i].Seq, "reason", res[i].Reason)
		}
	}

	type pending struct {
		tok  paho.Token
		msg  *message
		sent time.Time
	}
	var queue []pending
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// settle waits for the oldest pending message.
	settle := func() {
		q := queue[0]
		queue = queue[1:]
		defer func() { <-p.window; p.inflight.Add(-1) }()
		wait := time.Until(q.sent.Add(p.ack))
		timer := time.NewTimer(max(wait, 0))
		defer timer.Stop()
		select {
		case <-q.tok.Done():
		case <-timer.C:
			p.failed.Add(1)
			fail(fmt.Errorf("mqtt: batch %d seq %d: no PUBACK within %v", b.ID, b.Readings[q.msg.lo].Seq, p.ack))
			return
		case <-ctx.Done():
			p.failed.Add(1)
			fail(fmt.Errorf("mqtt: batch %d: %w", b.ID, ctx.Err()))
			return
		}
		if err := q.tok.Error(); err != nil {
			p.failed.Add(1)
			if errors.Is(err, paho.ErrNotConnected) {
				// paho noticed the loss before our loop did.
				err = ErrNotConnected
			}
			fail(fmt.Errorf("mqtt: publish batch %d seq %d: %w", b.ID, b.Readings[q.msg.lo].Seq, err))
			return
		}
		n := 0
		for i := q.msg.lo; i < q.msg.hi; i++ {
			if res[i].Status == publish.Retry {
				res[i].Status = publish.Accepted
				n++
			}
		}
		p.acked.Add(1)
		p.ackedReadings.Add(uint64(n))
		p.nby.Add(uint64(len(q.msg.payload)))
	}
	for i := range msgs {
		if firstErr != nil {
			break
		}
		if !p.connected.Load() {
			fail(p.notConnected(b.ID))
			break
		}
		if p.rate != nil {
			if err := p.rate.wait(ctx); err != nil {
				fail(fmt.Errorf("mqtt: batch %d: %w", b.ID, err))
				break
			}
		}
		// Take a window slot; settle our own oldest message if the window
		// is full with ours.
		for acquired := false; !acquired && firstErr == nil; {
			select {
			case p.window <- struct{}{}:
				acquired = true
			default:
				if len(queue) > 0 {
					settle()
					continue
				}
				select {
				case p.window <- struct{}{}:
					acquired = true
				case <-ctx.Done():
					fail(fmt.Errorf("mqtt: batch %d: %w", b.ID, ctx.Err()))
				}
			}
		}
		if firstErr != nil {
			break
		}
		p.inflight.Add(1)
		tok := p.client.Publish(p.topic, 1, false, msgs[i].payload)
		p.published.Add(1)
		queue = append(queue, pending{tok: tok, msg: &msgs[i], sent: time.Now()})
	}
	for len(queue) > 0 {
		settle()
	}
	if firstErr != nil {
		p.setErr(firstErr)
	}
	return firstErr
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

// pacer spaces publishes to at most rate per second, allowing a burst of up
// to one second's worth.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration
	next     time.Time
}

func newPacer(rate int) *pacer {
	iv := time.Second / time.Duration(rate)
	return &pacer{interval: iv, burst: time.Second}
}

func (r *pacer) wait(ctx context.Context) error {
	r.mu.Lock()
	now := time.Now()
	if r.next.Before(now.Add(-r.burst)) {
		r.next = now.Add(-r.burst)
	}
	r.next = r.next.Add(r.interval)
	at := r.next
	r.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
