package webguard

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// refusalBody is the body of the answer to a connection over the cap.
const refusalBody = "too many connections to this server; retry in a few seconds\n"

// refusal is written to a connection over the cap before it is closed. The
// server has not read the request, so the answer is the same for all.
var refusal = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 5\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n" +
	"\r\n" + refusalBody)

// Limiter is a listener that holds at most Max connections at a time. A
// connection accepted over the cap is answered 503 and closed at once,
// never queued: a flood of idle clients costs one accept and one small
// write each, and cannot hold the server's memory or file descriptors
// beyond the cap.
type Limiter struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
}

// LimitListener wraps ln so that it holds at most max connections (max <= 0
// means no cap).
func LimitListener(ln net.Listener, max int) *Limiter {
	return &Limiter{Listener: ln, max: int64(max)}
}

// Accept returns the next connection within the cap; those over it are
// refused here and never returned.
func (l *Limiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.open.Add(1); l.max > 0 && n > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			// A fresh socket's send buffer is empty: the write does not
			// block, and the deadline makes sure of it.
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write(refusal)
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// Open is the number of connections held now.
func (l *Limiter) Open() int64 { return l.open.Load() }

// Refused is the number of connections refused over the cap.
func (l *Limiter) Refused() uint64 { return l.refused.Load() }

type limitedConn struct {
	net.Conn
	l    *Limiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
