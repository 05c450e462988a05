package greengrass

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// Destinations.
const (
	DestIoTCore = "iotcore" // PublishToIoTCore at QoS 1
	DestLocal   = "local"   // PublishToTopic on the nucleus's local pub/sub bus
)

// DefaultTopic is the topic template when PublisherOpts.Topic is empty.
const DefaultTopic = "dt/stirling/{thing}/telemetry"

// DefaultMaxPayload keeps each message under the IoT Core and nucleus limit
// of 128 KB (mqtt.maxMessageSizeInBytes). On Greengrass Nucleus Lite, whose
// IPC frames are limited to 10000 bytes, use about 7000 (payloads travel
// base64-encoded).
const DefaultMaxPayload = 128_000

// ErrTopic is returned for a topic IoT Core would refuse.
var ErrTopic = errors.New("greengrass: invalid topic")

// PublisherOpts configures a Publisher.
type PublisherOpts struct {
	Name        string // default "greengrass"
	Thing       string // replaces {thing} in Topic
	Topic       string // default DefaultTopic
	Destination string // DestIoTCore (default) or DestLocal
	Layout      string // LayoutBatch (default) or LayoutSample
	MaxPayload  int    // bytes per message before base64; default DefaultMaxPayload
	// Encode replaces the built-in JSON encoder (Layout and MaxPayload are
	// then ignored), for example to share the mqtt publisher's layouts.
	Encode Encoder
}

// Publisher is a publish.Publisher that sends readings as JSON through the
// nucleus. A reading is Accepted once the nucleus has queued its message:
// IPC gives no delivery acknowledgement from IoT Core, so from here on the
// nucleus spooler (memory by default) owns the data.
type Publisher struct {
	c      *Client
	name   string
	topic  string
	dest   string
	encode Encoder
	ready  <-chan struct{} // from c.Reconnected

	mu   sync.Mutex // serializes Send (msgs)
	msgs []Message

	readings, messages, rejected, retried atomic.Uint64
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Readier   = (*Publisher)(nil)
)

// DefaultPublisherOpts returns the defaults NewPublisher uses for every
// zero field (Thing has none: a topic with {thing} needs it).
func DefaultPublisherOpts() PublisherOpts {
	return PublisherOpts{Name: "greengrass", Topic: DefaultTopic, Destination: DestIoTCore, Layout: LayoutBatch, MaxPayload: DefaultMaxPayload}
}

// NewPublisher returns a Publisher using c; a nil o means
// DefaultPublisherOpts. The Publisher does not own c:
// Close the client separately after the publisher.
func NewPublisher(c *Client, o *PublisherOpts) (*Publisher, error) {
	var opts PublisherOpts
	if o != nil {
		opts = *o
	}
	p := &Publisher{c: c, name: opts.Name, dest: opts.Destination, encode: opts.Encode}
	if p.name == "" {
		p.name = "greengrass"
	}
	if p.dest == "" {
		p.dest = DestIoTCore
	}
	if p.encode == nil {
		max := opts.MaxPayload
		if max <= 0 {
			max = DefaultMaxPayload
		}
		var err error
		if p.encode, err = NewEncoder(opts.Layout, max); err != nil {
			return nil, err
		}
	}
	topic := opts.Topic
	if topic == "" {
		topic = DefaultTopic
	}
	if strings.Contains(topic, "{thing}") && opts.Thing == "" {
		return nil, fmt.Errorf("%w: %q uses {thing} but no thing name is set", ErrTopic, topic)
	}
	p.topic = strings.ReplaceAll(topic, "{thing}", opts.Thing)
	switch p.dest {
	case DestIoTCore:
		if err := ValidateTopic(p.topic); err != nil {
			return nil, err
		}
	case DestLocal:
		if p.topic == "" || strings.ContainsAny(p.topic, "+#") {
			return nil, fmt.Errorf("%w: %q: empty or has a wildcard", ErrTopic, p.topic)
		}
	default:
		return nil, fmt.Errorf("greengrass: destination %q: want %q or %q", p.dest, DestIoTCore, DestLocal)
	}
	if c != nil {
		p.ready = c.Reconnected()
	}
	return p, nil
}

// ValidateTopic checks an IoT Core publish topic as the nucleus does: not
// empty, no wildcards, at most 256 bytes and 7 slashes, not counting a
// Basic Ingest prefix $aws/rules/<rule>/.
func ValidateTopic(topic string) error {
	t := topic
	if rest, ok := strings.CutPrefix(t, "$aws/rules/"); ok {
		if i := strings.IndexByte(rest, '/'); i > 0 {
			t = rest[i+1:]
		}
	}
	switch {
	case t == "":
		return fmt.Errorf("%w: %q is empty", ErrTopic, topic)
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("%w: %q has a wildcard", ErrTopic, topic)
	case len(t) > 256:
		return fmt.Errorf("%w: %q is %d bytes, the limit is 256", ErrTopic, topic, len(t))
	case strings.Count(t, "/") > 7:
		return fmt.Errorf("%w: %q has %d slashes, the limit is 7", ErrTopic, topic, strings.Count(t, "/"))
	}
	return nil
}

// Name implements publish.Publisher.
func (p *Publisher) Name() string { return p.name }

// Topic is the resolved topic.
func (p *Publisher) Topic() string { return p.topic }

// Ready implements publish.Readier: it fires when the IPC connection comes
// back, so the Runner retries at once instead of finishing its backoff.
func (p *Publisher) Ready() <-chan struct{} { return p.ready }

// Close implements publish.Publisher. It does not close the Client.
func (p *Publisher) Close() error {
	if p.c != nil {
		p.c.StopReconnected(p.ready)
	}
	return nil
}

// Send implements publish.Publisher. The batch is encoded into messages of
// at most MaxPayload bytes; each message's readings share its outcome. A
// retryable IPC error (ServiceError: spooler full, device offline) or a lost
// connection stops the attempt with an error and leaves the rest as Retry;
// so does UnauthorizedError (no accessControl policy for the topic: the
// error wraps publish.ErrUnauthorized, and the readings wait in the spool
// until the deployment is fixed). Another client error
// (InvalidArgumentsError) rejects that message's readings with the reason.
func (p *Publisher) Send(ctx context.Context, b *pipeline.Batch, res []publish.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = p.encode(p.msgs[:0], b, res)
	for i := range res {
		if res[i].Status == publish.Rejected {
			p.rejected.Add(1)
		}
	}
	for m, msg := range p.msgs {
		var err error
		if p.dest == DestLocal {
			err = p.c.PublishToTopic(ctx, p.topic, msg.Payload)
		} else {
			err = p.c.PublishToIoTCore(ctx, p.topic, AtLeastOnce, msg.Payload)
		}
		var ipcErr *Error
		switch {
		case errors.As(err, &ipcErr) && ipcErr.Code == "UnauthorizedError":
			// The component's accessControl does not grant this topic: a
			// deployment to fix, not bad readings. Keep them for retry.
			n := 0
			for _, rest := range p.msgs[m:] {
				n += setRange(res, rest, publish.Result{Reason: err.Error()})
			}
			p.retried.Add(uint64(n))
			return fmt.Errorf("greengrass: publish batch %d: %w (%w)", b.ID, err, publish.ErrUnauthorized)
		case err == nil:
			n := setRange(res, msg, publish.Result{Status: publish.Accepted})
			p.messages.Add(1)
			p.readings.Add(uint64(n))
		case errors.As(err, &ipcErr) && !ipcErr.Retryable():
			n := setRange(res, msg, publish.Result{Status: publish.Rejected, Reason: ipcErr.Code + ": " + ipcErr.Message})
			p.rejected.Add(uint64(n))
			p.c.log.Error("nucleus rejected readings", "topic", p.topic, "readings", n, "code", ipcErr.Code, "err", err)
		default:
			n := 0
			for _, rest := range p.msgs[m:] {
				n += setRange(res, rest, publish.Result{Reason: err.Error()})
			}
			p.retried.Add(uint64(n))
			return fmt.Errorf("greengrass: publish batch %d: %w", b.ID, err)
		}
	}
	return nil
}

// setRange sets the result of msg's readings not already rejected and
// returns how many it set.
func setRange(res []publish.Result, msg Message, r publish.Result) int {
	n := 0
	for k := msg.Lo; k < msg.Hi; k++ {
		if res[k].Status != publish.Rejected {
			res[k] = r
			n++
		}
	}
	return n
}

// Message is one encoded payload carrying readings Lo..Hi-1 of a batch
// (except those the encoder marked Rejected).
type Message struct {
	Payload []byte
	Lo, Hi  int
}

// Encoder appends the messages for b to dst, each of at most the
// publisher's MaxPayload bytes, and marks readings it cannot encode
// Rejected in res with a reason.
type Encoder func(dst []Message, b *pipeline.Batch, res []publish.Result) []Message

// NewEncoder returns the built-in encoder for layout (LayoutBatch or
// LayoutSample) and payloads of at most max bytes.
func NewEncoder(layout string, max int) (Encoder, error) {
	switch layout {
	case "", LayoutBatch:
		return func(dst []Message, b *pipeline.Batch, res []publish.Result) []Message {
			return encode(dst, b, res, true, max)
		}, nil
	case LayoutSample:
		return func(dst []Message, b *pipeline.Batch, res []publish.Result) []Message {
			return encode(dst, b, res, false, max)
		}, nil
	}
	return nil, fmt.Errorf("greengrass: layout %q: want %q or %q", layout, LayoutBatch, LayoutSample)
}

// encode is the built-in encoder: a JSON array of reading objects per
// message (batch), or one object per message (sample).
func encode(dst []Message, b *pipeline.Batch, res []publish.Result, batch bool, max int) []Message {
	overhead := 0
	if batch {
		overhead = 2 // [ and ]
	}
	var buf []byte
	lo := -1
	flush := func(hi int) {
		if lo < 0 {
			return
		}
		if batch {
			buf = append(buf, ']')
		}
		dst = append(dst, Message{Payload: buf, Lo: lo, Hi: hi})
		buf, lo = nil, -1
	}
	var one []byte
	for i := range b.Readings {
		if res[i].Status == publish.Rejected {
			continue
		}
		r := &b.Readings[i]
		if !finite(r) {
			res[i] = publish.Result{Status: publish.Rejected, Reason: "value is not a finite number"}
			continue
		}
		one = appendReading(one[:0], r, b.ID)
		if len(one)+overhead > max {
			res[i] = publish.Result{Status: publish.Rejected, Reason: fmt.Sprintf("reading encodes to %d bytes, over the %d-byte payload limit", len(one), max)}
			continue
		}
		if lo >= 0 && (!batch || len(buf)+1+len(one)+1 > max) {
			flush(i)
		}
		if lo < 0 {
			lo = i
			buf = make([]byte, 0, min(max, 4096))
			if batch {
				buf = append(buf, '[')
			}
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, one...)
	}
	flush(len(b.Readings))
	return dst
}

// PublisherStats are a Publisher's counters.
type PublisherStats struct {
	// MessagesQueuedInNucleus and ReadingsQueuedInNucleus count what the
	// nucleus accepted into its spooler (not IoT Core delivery).
	MessagesQueuedInNucleus, ReadingsQueuedInNucleus uint64
	Rejected                                         uint64 // readings rejected (oversized, or a non-retryable IPC error)
	Retried                                          uint64 // readings left for retry by a failed attempt
}

// Stats returns a snapshot of the counters; the connection's counters are
// in Client.Stats.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		MessagesQueuedInNucleus: p.messages.Load(),
		ReadingsQueuedInNucleus: p.readings.Load(),
		Rejected:                p.rejected.Load(),
		Retried:                 p.retried.Load(),
	}
}

// CheckPublisherOpts validates o exactly as NewPublisher does (topic,
// destination, layout), without a client: for `stirling config check`.
func CheckPublisherOpts(o *PublisherOpts) error {
	_, err := NewPublisher(nil, o)
	return err
}
