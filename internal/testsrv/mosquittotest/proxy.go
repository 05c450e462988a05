package mosquittotest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP forwarder in front of a broker that can take the network
// away: Down closes every connection and the listening socket (new
// connections are refused), Up listens again on the same address. Stall
// keeps the connections open but stops forwarding (a broker that hangs).
type Proxy struct {
	Addr   string // "127.0.0.1:port", stable across Down/Up
	target string
	t      testing.TB

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	upAt    time.Time
	accepts int
	stalled bool
	flowing *sync.Cond // on mu; broadcast when stalled ends
}

// NewProxy starts a proxy to target ("host:port"). It is closed when the test
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, t: t, conns: map[net.Conn]struct{}{}}
	p.flowing = sync.NewCond(&p.mu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mosquittotest: proxy listen: %v", err)
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// URL is the proxy address in paho form (tls://127.0.0.1:port).
func (p *Proxy) URL() string { return "tls://" + p.Addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.upAt = time.Now()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.conns[up] = struct{}{}
	p.accepts++
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, stallReader{p, src})
		dst.Close()
		src.Close()
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// stallReader reads from a connection and holds what it read while the
// proxy is stalled.
type stallReader struct {
	p *Proxy
	c net.Conn
}

func (r stallReader) Read(b []byte) (int, error) {
	n, err := r.c.Read(b)
	r.p.mu.Lock()
	for r.p.stalled {
		r.p.flowing.Wait()
	}
	r.p.mu.Unlock()
	return n, err
}

// Stall stops forwarding while keeping every connection open, as a hung
// broker would, until Down or Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Resume forwards again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	p.flowing.Broadcast()
}

// Down drops every connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	p.flowing.Broadcast()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Up accepts connections again on the same address and returns the moment
// the listening socket was open.
func (p *Proxy) Up() time.Time {
	p.t.Helper()
	p.mu.Lock()
	if p.ln != nil {
		at := p.upAt
		p.mu.Unlock()
		return at
	}
	p.mu.Unlock()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("mosquittotest: proxy relisten on %s: %v", p.Addr, err)
	}
	p.serve(ln)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upAt
}

// Accepts is how many connections the proxy forwarded so far.
func (p *Proxy) Accepts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}
