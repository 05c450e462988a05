package mosquittotest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Sub received.
type Message struct {
	Topic     string
	Payload   []byte
	Duplicate bool      // the broker's DUP flag
	At        time.Time // arrival time
}

// Sub is a QoS 1 subscriber connected straight to the broker (not through a
// proxy) with the test's client certificate. It resubscribes after a broker
// restart.
type Sub struct {
	Filter string

	client paho.Client
	gen    atomic.Int64 // successful SUBACKs so far

	mu     sync.Mutex
	msgs   []Message
	notify chan struct{} // closed and replaced on every message
}

var subCounter atomic.Int64

// Subscribe connects a subscriber for filter and waits for its SUBACK. It is
// disconnected when the test ends.
func (b *Broker) Subscribe(t testing.TB, filter string) *Sub {
	t.Helper()
	s := &Sub{Filter: filter, notify: make(chan struct{})}
	o := paho.NewClientOptions().
		AddBroker(b.URL()).
		SetClientID(fmt.Sprintf("mosquittotest-sub-%d", subCounter.Add(1))).
		SetTLSConfig(b.Certs.ClientTLS(t)).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true)
	o.SetOnConnectHandler(func(c paho.Client) {
		// Subscribe from a goroutine: the handler must not block on a token.
		go func() {
			tok := c.Subscribe(filter, 1, s.handle)
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				s.gen.Add(1)
				s.wake()
			}
		}()
	})
	s.client = paho.NewClient(o)
	tok := s.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mosquittotest: subscriber connect: %v", tok.Error())
	}
	s.waitGeneration(t, 1, 10*time.Second)
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

func (s *Sub) handle(_ paho.Client, m paho.Message) {
	p := append([]byte(nil), m.Payload()...)
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: p, Duplicate: m.Duplicate(), At: time.Now()})
	s.mu.Unlock()
	s.wake()
}

func (s *Sub) wake() {
	s.mu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

func (s *Sub) generation() int { return int(s.gen.Load()) }

func (s *Sub) waitGeneration(t testing.TB, gen int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if s.generation() >= gen {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mosquittotest: subscriber not subscribed after %v", timeout)
		}
	}
}

// Messages returns a copy of everything received so far, in arrival order.
func (s *Sub) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Len is the number of messages received so far.
func (s *Sub) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitFor waits until cond, called with every message so far, returns true,
// or fails the test after timeout.
func (s *Sub) WaitFor(t testing.TB, timeout time.Duration, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ch := s.notify
		msgs := s.msgs
		ok := cond(msgs)
		s.mu.Unlock()
		if ok {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("mosquittotest: condition not met after %v (%d messages)", timeout, s.Len())
			return nil
		}
	}
}

// WaitN waits until at least n messages arrived.
func (s *Sub) WaitN(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	return s.WaitFor(t, timeout, func(m []Message) bool { return len(m) >= n })
}
