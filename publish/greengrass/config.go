package greengrass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stirling-iot/stirling/publish"
)

// ConfigDebounce is how long WatchConfiguration waits after an update event
// for more events before it re-fetches: a deployment changes one leaf per
// event, so a new configuration arrives as a burst.
const ConfigDebounce = 250 * time.Millisecond

// WatchConfiguration applies this component's configuration at keyPath now
// and after every change, until ctx is done (it then returns ctx's error).
//
// It subscribes first and fetches second, so no change is missed; each
// burst of update events (and each reconnect) leads to one GetConfiguration
// and, if the value differs from the last one seen, one call of apply. apply
// must validate the whole configuration the same way the YAML file is
// validated and return an error if it is invalid; an invalid configuration
// is logged with that error, counted in Stats().ConfigRejected and not
// applied. Transient failures (a lost connection, a timeout, ServiceError)
// are retried with backoff; a permanent one (for example
// ResourceNotFoundError when the deployment has no such key) is returned.
func (c *Client) WatchConfiguration(ctx context.Context, keyPath []string, apply func(map[string]any) error) error {
	dirty := make(chan struct{}, 1)
	poke := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	var sub *Subscription
	err := c.retryTransient(ctx, func() error {
		var err error
		sub, err = c.SubscribeToConfigurationUpdate(ctx, keyPath, func(ConfigurationUpdate) { poke() }, poke)
		return err
	})
	if err != nil {
		return err
	}
	defer sub.Close()

	var last []byte
	fetch := func() error {
		c.stats.cfgFetch.Add(1)
		v, err := c.GetConfiguration(ctx, keyPath)
		if err != nil {
			return err
		}
		b, err := json.Marshal(v) // canonical: map keys sorted
		if err != nil {
			return fmt.Errorf("greengrass: configuration: %w", err)
		}
		if last != nil && string(b) == string(last) {
			return nil
		}
		last = b
		if err := apply(v); err != nil {
			c.stats.configRejected.Add(1)
			c.log.Error("configuration rejected; keeping the current one", "keyPath", keyPath, "err", err)
			return nil
		}
		c.stats.configApplied.Add(1)
		c.log.Info("configuration applied", "keyPath", keyPath)
		return nil
	}
	if err := c.retryTransient(ctx, fetch); err != nil {
		return err
	}
	delay := ConfigDebounce
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dirty:
		}
		// Debounce: let the rest of a deployment's burst arrive.
		if err := c.clk.Sleep(ctx, delay); err != nil {
			return err
		}
		select {
		case <-dirty:
		default:
		}
		if err := fetch(); err != nil {
			// Transient (reconnecting, nucleus busy): try again shortly.
			c.log.Warn("configuration fetch failed", "err", err)
			delay = min(2*delay, 30*time.Second)
			poke()
			continue
		}
		delay = ConfigDebounce
	}
}

// retryTransient runs f until it succeeds, fails permanently or ctx ends,
// waiting with the reconnect backoff between transient failures.
func (c *Client) retryTransient(ctx context.Context, f func() error) error {
	backoff := c.opts.MinBackoff
	fl := publish.FailureLog{Log: c.log, Now: c.clk.Now}
	for {
		err := f()
		if err == nil || !transient(err) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		fl.Fail("configuration watch failing; retrying", "configuration watch still failing", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return ErrClosed
		case <-c.clk.After(backoff):
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
}

// transient reports whether err may go away by itself.
func transient(err error) bool {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Retryable()
	case errors.Is(err, ErrClosed):
		return false
	case errors.Is(err, ErrDisconnected), errors.Is(err, ErrProtocol), errors.Is(err, ErrFrame),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}
