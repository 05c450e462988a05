package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newTestPublisher connects a publisher to addr with the broker's client
// certificate.
func newTestPublisher(t testing.TB, b *mosquittotest.Broker, addr string, mod func(*Opts)) *Publisher {
	t.Helper()
	o := Opts{
		Endpoint:          addr,
		Thing:             "pi-01",
		CertFile:          b.Certs.ClientCert,
		KeyFile:           b.Certs.ClientKey,
		CAFile:            b.Certs.CAFile,
		KeepAlive:         30 * time.Second,
		AckTimeout:        5 * time.Second,
		ReconnectInterval: 100 * time.Millisecond,
		MaxRate:           -1,
	}
	if mod != nil {
		mod(&o)
	}
	o.Logger = testLogger(t)
	p, err := New(&o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func waitReady(t testing.TB, p *Publisher, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !p.Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("publisher not connected after %v: %+v", d, p.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// received collects the reading seqs of every message, in arrival order.
func received(t testing.TB, layout Layout, msgs []mosquittotest.Message) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, m := range msgs {
		seqs = append(seqs, decodeSeqs(t.(*testing.T), layout, m.Payload)...)
	}
	return seqs
}

func TestPublishReceive(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	for _, layout := range []Layout{Sample, Batch, Packed} {
		t.Run(string(layout), func(t *testing.T) {
			s := loadSchema(t, fmt.Sprintf("../../schemas/%s.schema.json", layout))
			p := newTestPublisher(t, b, b.Addr, func(o *Opts) {
				o.Layout = layout
				o.Topic = "dt/stirling/{thing}/" + string(layout)
			})
			if want := "dt/stirling/pi-01/" + string(layout); p.Topic() != want {
				t.Fatalf("topic %q, want %q", p.Topic(), want)
			}
			sub := b.Subscribe(t, p.Topic())
			waitReady(t, p, 5*time.Second)
			batch := engineBatch(1, 1, 50, time.UnixMilli(1_700_000_000_000))
			res := make([]publish.Result, len(batch.Readings))
			if err := p.Send(context.Background(), batch, res); err != nil {
				t.Fatalf("Send: %v", err)
			}
			for i, r := range res {
				if r.Status != publish.Accepted {
					t.Fatalf("reading %d: %v %s", i, r.Status, r.Reason)
				}
			}
			msgs := sub.WaitFor(t, 5*time.Second, func(m []mosquittotest.Message) bool {
				return len(received(t, layout, m)) >= len(batch.Readings)
			})
			for _, m := range msgs {
				if err := validateJSON(s, m.Payload); err != nil {
					t.Fatalf("schema: %v\n%s", err, m.Payload)
				}
			}
			got := received(t, layout, msgs)
			for i := range got {
				if got[i] != uint64(i+1) {
					t.Fatalf("seq %d at %d: out of order or gap", got[i], i)
				}
			}
			st := p.Stats()
			if !st.Connected || st.Acked != uint64(len(msgs)) || st.AckedReadings != uint64(len(batch.Readings)) || st.InFlight != 0 {
				t.Errorf("stats %+v, want %d acked messages, %d readings", st, len(msgs), len(batch.Readings))
			}
		})
	}
}

// A client without a certificate must be refused, and one with a
// certificate from another CA too; a publisher with the right certificate
// connects first, so a dead broker cannot pass for a refusal.
func TestRefusedWithoutClientCert(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	good := newTestPublisher(t, b, b.Addr, nil)
	waitReady(t, good, 5*time.Second)
	tests := []struct {
		name string
		mod  func(*Opts)
	}{
		{"no client certificate", func(o *Opts) {
			c := b.Certs.ClientTLS(t)
			c.Certificates = nil
			o.TLS = c
			o.ClientID = "no-cert"
		}},
		{"untrusted client certificate", func(o *Opts) {
			other := tlsFromOtherCA(t, b)
			o.TLS = other
			o.ClientID = "other-ca"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPublisher(t, b, b.Addr, tt.mod)
			// A refusal backs off from 1 s (jittered to 0.5-1 s): in 1.6 s
			// that is 2 or 3 attempts, where the 100 ms reconnect interval
			// of an unreachable broker would make about 15.
			time.Sleep(1600 * time.Millisecond)
			st := p.Stats()
			if st.Connected || st.Connects != 0 || st.ConnectFailures < 2 {
				t.Fatalf("stats %+v: want refused connections", st)
			}
			if st.ConnectFailures > 4 {
				t.Errorf("%d attempts in 1.6 s: a refusal must back off (last error %s)", st.ConnectFailures, st.LastError)
			}
			batch := engineBatch(1, 1, 1, time.Now())
			res := make([]publish.Result, len(batch.Readings))
			if err := p.Send(context.Background(), batch, res); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Send = %v, want ErrNotConnected", err)
			}
			if !good.Stats().Connected {
				t.Error("good publisher lost its connection")
			}
		})
	}
}

func tlsFromOtherCA(t *testing.T, b *mosquittotest.Broker) *tls.Config {
	t.Helper()
	c := b.Certs.ClientTLS(t) // trusts the broker's CA
	other := mosquittotestCerts(t).ClientTLS(t)
	c.Certificates = other.Certificates
	return c
}

func TestSplitAndReject(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	p := newTestPublisher(t, b, b.Addr, nil)
	sub := b.Subscribe(t, p.Topic())
	waitReady(t, p, 5*time.Second)
	// About 400 KB of readings: at least 4 messages of at most 128 KiB.
	batch := engineBatch(5, 1, 1000, time.UnixMilli(1_700_000_000_000))
	for i := range batch.Readings {
		batch.Readings[i].Text = strings.Repeat("t", 60)
	}
	// One reading that cannot fit in any message.
	batch.Readings[10].Text = strings.Repeat("x", MaxPayload)
	res := make([]publish.Result, len(batch.Readings))
	if err := p.Send(context.Background(), batch, res); err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, r := range res {
		want := publish.Accepted
		if i == 10 {
			want = publish.Rejected
		}
		if r.Status != want {
			t.Fatalf("reading %d: %v (%s), want %v", i, r.Status, r.Reason, want)
		}
	}
	if !strings.Contains(res[10].Reason, "payload limit") {
		t.Errorf("reject reason %q", res[10].Reason)
	}
	msgs := sub.WaitFor(t, 5*time.Second, func(m []mosquittotest.Message) bool {
		return len(received(t, Batch, m)) >= len(batch.Readings)-1
	})
	if len(msgs) < 4 {
		t.Errorf("%d messages, want at least 4", len(msgs))
	}
	for i, m := range msgs {
		if len(m.Payload) > MaxPayload {
			t.Errorf("message %d: %d bytes", i, len(m.Payload))
		}
	}
	got := received(t, Batch, msgs)
	want := uint64(1)
	for _, s := range got {
		if want == 11 {
			want++ // the rejected reading
		}
		if s != want {
			t.Fatalf("got seq %d, want %d", s, want)
		}
		want++
	}
	if st := p.Stats(); st.Rejected != 1 {
		t.Errorf("stats rejected %d, want 1", st.Rejected)
	}
}

// sendUntilAccepted resends the readings of batch that are still Retry until
// all are Accepted, like the publish runner does.
func sendUntilAccepted(t *testing.T, p *Publisher, batch *pipeline.Batch, d time.Duration) (errs int) {
	t.Helper()
	deadline := time.Now().Add(d)
	pending := batch
	for {
		res := make([]publish.Result, len(pending.Readings))
		err := p.Send(context.Background(), pending, res)
		next := &pipeline.Batch{ID: pending.ID}
		for i, r := range res {
			if r.Status == publish.Retry {
				next.Readings = append(next.Readings, pending.Readings[i])
			}
		}
		if err != nil {
			errs++
		}
		if len(next.Readings) == 0 {
			return errs
		}
		if err == nil {
			t.Fatalf("Send returned nil with %d readings still Retry", len(next.Readings))
		}
		if time.Now().After(deadline) {
			t.Fatalf("readings still pending after %v: %v", d, err)
		}
		select {
		case <-p.Ready():
		case <-time.After(time.Second):
		}
		pending = next
	}
}

func TestOutage(t *testing.T) {
	tests := []struct {
		name string
		// down takes the broker away; up brings it back and returns the
		// moment it accepts connections again.
		down func(*mosquittotest.Broker, *mosquittotest.Proxy)
		up   func(*mosquittotest.Broker, *mosquittotest.Proxy) time.Time
	}{
		{"proxy drops the network",
			func(_ *mosquittotest.Broker, px *mosquittotest.Proxy) { px.Down() },
			func(_ *mosquittotest.Broker, px *mosquittotest.Proxy) time.Time { return px.Up() }},
		{"broker stops and restarts",
			func(b *mosquittotest.Broker, px *mosquittotest.Proxy) { px.Down(); b.Stop() },
			func(b *mosquittotest.Broker, px *mosquittotest.Proxy) time.Time { b.Restart(); return px.Up() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mosquittotest.Start(t, nil)
			px := mosquittotest.NewProxy(t, b.Addr)
			p := newTestPublisher(t, b, px.Addr, func(o *Opts) { o.InFlight = 10 })
			sub := b.Subscribe(t, p.Topic())
			waitReady(t, p, 5*time.Second)
			t0 := time.UnixMilli(1_700_000_000_000)
			var seq uint64 = 1
			next := func(id uint64) *pipeline.Batch {
				bt := engineBatch(id, seq, 25, t0.Add(time.Duration(id)*time.Minute))
				seq += uint64(len(bt.Readings))
				return bt
			}
			for id := uint64(1); id <= 5; id++ {
				sendUntilAccepted(t, p, next(id), 10*time.Second)
			}
			tt.down(b, px)
			// While down: Send fails fast and accepts nothing.
			outage := next(6)
			res := make([]publish.Result, len(outage.Readings))
			start := time.Now()
			err := p.Send(context.Background(), outage, res)
			for time.Since(start) < 5*time.Second && err == nil {
				res = make([]publish.Result, len(outage.Readings))
				err = p.Send(context.Background(), outage, res)
			}
			if err == nil {
				t.Fatal("Send kept succeeding with the broker gone")
			}
			for i, r := range res {
				if r.Status == publish.Accepted {
					// Acked before the drop: fine, not lost.
					continue
				}
				if r.Status != publish.Retry {
					t.Fatalf("reading %d: %v during outage", i, r.Status)
				}
			}
			res = make([]publish.Result, len(outage.Readings))
			if err := p.Send(context.Background(), outage, res); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Send while down = %v, want ErrNotConnected", err)
			}
			time.Sleep(300 * time.Millisecond) // several failed reconnect attempts
			upAt := tt.up(b, px)
			waitReady(t, p, 5*time.Second)
			reconnect := p.Stats().ConnectedAt.Sub(upAt)
			sendUntilAccepted(t, p, outage, 10*time.Second)
			for id := uint64(7); id <= 8; id++ {
				sendUntilAccepted(t, p, next(id), 10*time.Second)
			}
			total := int(seq - 1)
			msgs := sub.WaitFor(t, 10*time.Second, func(m []mosquittotest.Message) bool {
				return len(dedup(received(t, Batch, m))) >= total
			})
			var firstAfter time.Duration
			for _, m := range msgs {
				if m.At.After(upAt) {
					firstAfter = m.At.Sub(upAt)
					break
				}
			}
			got := received(t, Batch, msgs)
			uniq := dedup(got)
			for i, s := range uniq {
				if s != uint64(i+1) {
					t.Fatalf("seq %d at %d: gap", s, i)
				}
			}
			t.Logf("readings %d, delivered %d (duplicates %d), reconnect %v after the broker came back, first message after %v, stats %+v",
				total, len(got), len(got)-len(uniq), reconnect, firstAfter, p.Stats())
			// The connection backoff is capped at MaxReconnectInterval (1 s);
			// the margin is for the TLS handshake on a loaded machine.
			if reconnect > 1500*time.Millisecond || firstAfter > 1500*time.Millisecond {
				t.Errorf("reconnect %v / first message %v after the broker came back, want within the 1 s backoff cap (+0.5 s)", reconnect, firstAfter)
			}
			if st := p.Stats(); st.Disconnects < 1 || st.Connects < 2 {
				t.Errorf("stats %+v: want a disconnect and a reconnect", st)
			}
		})
	}
}

// dedup returns the sorted distinct seqs.
func dedup(seqs []uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, s := range seqs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for i := 1; i < len(out); i++ { // insertion sort: nearly sorted already
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestClose(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	p := newTestPublisher(t, b, b.Addr, nil)
	waitReady(t, p, 5*time.Second)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	batch := engineBatch(1, 1, 1, time.Now())
	res := make([]publish.Result, len(batch.Readings))
	if err := p.Send(context.Background(), batch, res); err == nil {
		t.Error("Send after Close succeeded")
	}
}
