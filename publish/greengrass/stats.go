package greengrass

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

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
