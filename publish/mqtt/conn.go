package mqtt

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/stirling-iot/stirling/publish"
)

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
	wait := func(d time.Duration) bool { return p.clk.Sleep(ctx, d) == nil }
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
			p.flog.Fail("connect failing", "still failing to connect", cerr, "retry_in", d)
			if !wait(d) {
				return
			}
			continue
		}
		p.setUp()
		upAt := p.clk.Now()
		select {
		case err := <-p.lost:
			p.disconnects.Add(1)
			if err == nil {
				err = errors.New("connection closed")
			}
			lerr := fmt.Errorf("mqtt: connection to %s lost: %w (%w)", p.endpoint, err, publish.ErrUnavailable)
			p.setDown(lerr)
			upFor := p.clk.Now().Sub(upAt)
			p.log.Warn("connection lost", "err", err, "up_for", upFor.Round(time.Millisecond))
			if upFor < minUptime {
				// Dropped right after connecting: back off as for a refusal.
				d := backoff(true)
				p.flog.Fail("connect failing", "still failing to connect", fmt.Errorf("mqtt: %s dropped the connection %v after CONNACK: %w (%w)", p.endpoint, upFor.Round(time.Millisecond), err, publish.ErrUnavailable), "retry_in", d)
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
	p.upAt = p.clk.Now()
	p.connErr = nil
	p.mu.Unlock()
	p.connected.Store(true)
	select {
	case p.ready <- struct{}{}:
	default:
	}
	if p.flog.Recovered("connected") == 0 {
		p.log.Info("connected")
	}
}

// setDown marks the connection down; a non-nil cause becomes what Send
// reports and the last error.
func (p *Publisher) setDown(cause error) {
	p.connected.Store(false)
	if cause != nil {
		p.mu.Lock()
		p.connErr = cause
		p.lastErr, p.lastAt = cause.Error(), p.clk.Now()
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
