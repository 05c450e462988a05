package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

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
			p.log.Warn("reading rejected", "batch", b.ID, "seq", b.Readings[i].Seq, "reason", res[i].Reason)
		}
	}

	w := window{p: p, ctx: ctx, b: b, res: res}
	for i := range msgs {
		if !p.connected.Load() {
			w.fail(p.notConnected(b.ID))
			break
		}
		if p.rate != nil {
			if err := p.rate.wait(ctx); err != nil {
				w.fail(fmt.Errorf("mqtt: batch %d: %w", b.ID, err))
				break
			}
		}
		if !w.acquire() {
			break
		}
		w.publish(&msgs[i])
	}
	w.drain()
	if w.err != nil {
		p.setErr(w.err)
	}
	return w.err
}

// window is one Send's share of the publisher's in-flight window: the
// messages it published and has not yet settled, oldest first, and the
// first failure. The slots themselves (Publisher.slots) are shared by all
// concurrent Sends; a window settles its own oldest message when it needs a
// slot and holds some, so a Send never waits on another Send's PUBACKs
// while its own are due.
type window struct {
	p   *Publisher
	ctx context.Context
	b   *pipeline.Batch
	res []publish.Result

	queue []pending
	err   error // the first failure; no more messages are published after it
}

// pending is a published message waiting for its PUBACK.
type pending struct {
	tok  paho.Token
	msg  *message
	sent time.Time
}

// fail records err if it is the first failure.
func (w *window) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// acquire takes a slot in the in-flight window, settling this Send's own
// oldest message while the window is full and it holds some. It reports
// false, with w.err set, if a failure came first.
func (w *window) acquire() bool {
	p := w.p
	for w.err == nil {
		select {
		case p.slots <- struct{}{}:
			return true
		default:
		}
		if len(w.queue) > 0 {
			w.settle()
			continue
		}
		select {
		case p.slots <- struct{}{}:
			return true
		case <-w.ctx.Done():
			w.fail(fmt.Errorf("mqtt: batch %d: %w", w.b.ID, w.ctx.Err()))
		}
	}
	return false
}

// publish sends m at QoS 1 in the slot acquire took.
func (w *window) publish(m *message) {
	p := w.p
	p.inflight.Add(1)
	tok := p.client.Publish(p.topic, 1, false, m.payload)
	p.published.Add(1)
	w.queue = append(w.queue, pending{tok: tok, msg: m, sent: p.clk.Now()})
}

// drain settles every message still pending.
func (w *window) drain() {
	for len(w.queue) > 0 {
		w.settle()
	}
}

// settle waits for the oldest pending message's PUBACK (up to AckTimeout
// after it was sent), marks its readings Accepted, and gives its slot back.
func (w *window) settle() {
	p := w.p
	q := w.queue[0]
	w.queue = w.queue[1:]
	defer func() { <-p.slots; p.inflight.Add(-1) }()
	wait := q.sent.Add(p.ack).Sub(p.clk.Now())
	select {
	case <-q.tok.Done():
	case <-p.clk.After(max(wait, 0)):
		p.failed.Add(1)
		w.fail(fmt.Errorf("mqtt: batch %d seq %d: no PUBACK within %v", w.b.ID, w.b.Readings[q.msg.lo].Seq, p.ack))
		return
	case <-w.ctx.Done():
		p.failed.Add(1)
		w.fail(fmt.Errorf("mqtt: batch %d: %w", w.b.ID, w.ctx.Err()))
		return
	}
	if err := q.tok.Error(); err != nil {
		p.failed.Add(1)
		if errors.Is(err, paho.ErrNotConnected) {
			// paho noticed the loss before our loop did.
			err = ErrNotConnected
		}
		w.fail(fmt.Errorf("mqtt: publish batch %d seq %d: %w", w.b.ID, w.b.Readings[q.msg.lo].Seq, err))
		return
	}
	n := 0
	for i := q.msg.lo; i < q.msg.hi; i++ {
		if w.res[i].Status == publish.Retry {
			w.res[i].Status = publish.Accepted
			n++
		}
	}
	p.acked.Add(1)
	p.ackedReadings.Add(uint64(n))
	p.nby.Add(uint64(len(q.msg.payload)))
}
