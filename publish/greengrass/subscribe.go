package greengrass

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

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
			case <-s.c.clk.After(delay):
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
