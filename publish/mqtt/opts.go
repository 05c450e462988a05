package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
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
	// DefaultConnectTimeout bounds one connection attempt.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultAckTimeout is how long a message waits for its PUBACK.
	DefaultAckTimeout = 10 * time.Second
	// DefaultReconnectInterval is the first pause after an attempt at an
	// unreachable broker.
	DefaultReconnectInterval = 250 * time.Millisecond
	// DefaultMaxReconnectInterval caps the backoff while the broker is
	// unreachable.
	DefaultMaxReconnectInterval = time.Second
	// DefaultMaxBackoff caps the backoff after the broker refused us.
	DefaultMaxBackoff = time.Minute
	// MaxMaxLatency bounds Opts.MaxLatency.
	MaxMaxLatency = 10 * time.Minute
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
	// Layout is Sample, Batch or Packed. Default Batch.
	Layout Layout
	// MaxLatency is the longest the runner holds a record so that the
	// records after it share its message (publish.Packer): a message goes
	// when the next record would push it over one 5 KB billing unit, or
	// when its first record has waited MaxLatency. 0 (the default) sends
	// every record at once. Meant for the Packed layout; with Sample, whose
	// messages hold one timestamp each, holding saves nothing.
	MaxLatency time.Duration
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
	// Logger receives connection events, scoped component=mqtt; nil
	// discards them.
	Logger *slog.Logger
	// Clock times the reconnect backoff, the failure reminders, the
	// PUBACK timeout and the pacer; nil is the wall clock. paho's own
	// timers (keep-alive, connect and write timeouts) run on the wall clock.
	Clock clock.Clock
}

// DefaultOpts returns the defaults New uses for every zero field. The
// identity (Thing, Endpoint and the certificate files) has no static
// default: New fills it from the Greengrass environment when it is unset
// (see Greengrass).
func DefaultOpts() Opts {
	return Opts{
		Name:                 "mqtt",
		Topic:                DefaultTopic,
		Layout:               Batch,
		KeepAlive:            DefaultKeepAlive,
		ConnectTimeout:       DefaultConnectTimeout,
		AckTimeout:           DefaultAckTimeout,
		InFlight:             MaxInFlight,
		MaxPayload:           MaxPayload,
		MaxRate:              DefaultMaxRate,
		ReconnectInterval:    DefaultReconnectInterval,
		MaxReconnectInterval: DefaultMaxReconnectInterval,
		MaxBackoff:           DefaultMaxBackoff,
		Logger:               slog.New(slog.DiscardHandler),
		Clock:                clock.Real{},
	}
}

// deref is *opts, or the zero Opts (all defaults) for nil.
func deref(opts *Opts) Opts {
	if opts == nil {
		return Opts{}
	}
	return *opts
}

// Check resolves and validates opts exactly as New does, including reading
// and matching the certificate, key and CA files, without connecting. Its
// errors are *OptError naming the option.
// A nil opts means DefaultOpts.
func Check(opts *Opts) error {
	o, err := resolve(deref(opts), os.Getenv, fileExists)
	if err != nil {
		return err
	}
	_, err = clientTLS(o)
	return err
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
	case Sample, Batch, Packed:
	default:
		return bad("layout", "%q: want %q, %q or %q", o.Layout, Sample, Batch, Packed)
	}
	if o.MaxLatency < 0 || o.MaxLatency > MaxMaxLatency {
		return bad("max_latency", "%v: want 0 to %v", o.MaxLatency, MaxMaxLatency)
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
		{&o.ConnectTimeout, DefaultConnectTimeout, "connect timeout"},
		{&o.AckTimeout, DefaultAckTimeout, "ack timeout"},
		{&o.ReconnectInterval, DefaultReconnectInterval, "reconnect interval"},
		{&o.MaxReconnectInterval, DefaultMaxReconnectInterval, "max reconnect interval"},
		{&o.MaxBackoff, DefaultMaxBackoff, "max backoff"},
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o, nil
}
