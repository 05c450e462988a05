package greengrass

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/ipctest"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

const token = "svcuid-0123456789abcdef"

func dial(t *testing.T, srv *ipctest.Server) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, &Opts{
		SocketPath:  srv.Path,
		AuthToken:   token,
		CallTimeout: 2 * time.Second,
		MinBackoff:  5 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func noViolations(t *testing.T, srv *ipctest.Server) {
	t.Helper()
	if v := srv.Violations(); len(v) > 0 {
		t.Fatalf("protocol violations:\n%s", strings.Join(v, "\n"))
	}
}

func TestDialEnv(t *testing.T) {
	srv := ipctest.New(t, token)
	t.Setenv(EnvSocket, srv.Path)
	t.Setenv(EnvToken, token)
	c, err := Dial(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.UpdateState(t.Context(), StateRunning); err != nil {
		t.Fatal(err)
	}
	if got := srv.States(); len(got) != 1 || got[0] != "RUNNING" {
		t.Fatalf("states %v", got)
	}
	noViolations(t, srv)

	t.Setenv(EnvSocket, "")
	if _, err := Dial(t.Context(), nil); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("no socket: err %v", err)
	}
	t.Setenv(EnvSocket, srv.Path)
	t.Setenv(EnvToken, "")
	if _, err := Dial(t.Context(), nil); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no token: err %v", err)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := ipctest.New(t, token)
	_, err := Dial(t.Context(), &Opts{SocketPath: srv.Path, AuthToken: "wrong"})
	if !errors.Is(err, ErrConnectRejected) {
		t.Fatalf("err %v, want ErrConnectRejected", err)
	}
	if !strings.Contains(err.Error(), "SVCUID") {
		t.Errorf("error %q does not point at the SVCUID", err)
	}
	if acc, rej := srv.Connects(); acc != 0 || rej != 1 {
		t.Fatalf("server saw %d accepted, %d rejected CONNECTs", acc, rej)
	}
	noViolations(t, srv)
}

func TestPublishToIoTCore(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	for i := range 3 {
		if err := c.PublishToIoTCore(t.Context(), "dt/stirling/pi-01/telemetry", AtLeastOnce, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PublishToTopic(t.Context(), "stirling/local", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	ps := srv.Publishes()
	if len(ps) != 4 {
		t.Fatalf("%d publishes", len(ps))
	}
	for i, p := range ps[:3] {
		if p.Op != "PublishToIoTCore" || p.Topic != "dt/stirling/pi-01/telemetry" || p.QoS != "1" || string(p.Payload) != fmt.Sprintf(`{"n":%d}`, i) || p.Stream != int32(i+1) {
			t.Errorf("publish %d: %+v", i, p)
		}
	}
	if p := ps[3]; p.Op != "PublishToTopic" || p.Topic != "stirling/local" || string(p.Payload) != "hi" || p.Stream != 4 {
		t.Errorf("local publish: %+v", p)
	}
	if s := c.Stats(); s.QueuedInNucleus != 4 || s.Connects != 1 || s.Calls != 4 {
		t.Errorf("stats %+v", s)
	}
	noViolations(t, srv)
}

// TestConcurrentStreams checks the stream-id discipline under concurrency:
// the server closes the connection on any id that is not previous+1.
func TestConcurrentStreams(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				errs <- c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte(fmt.Sprint(g, i)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(srv.Publishes()); n != 200 {
		t.Fatalf("%d publishes", n)
	}
	if s := c.Stats(); s.Reconnects != 0 {
		t.Fatalf("reconnected %d times", s.Reconnects)
	}
	noViolations(t, srv)
}

func TestIPCErrors(t *testing.T) {
	tests := []struct {
		reply     ipctest.Reply
		code      string
		retryable bool
	}{
		{ipctest.Reply{Error: "ServiceError", Message: "Device is offline"}, "ServiceError", true},
		{ipctest.Reply{Error: "UnauthorizedError", Message: "Not Authorized"}, "UnauthorizedError", false},
		{ipctest.Reply{Error: "InvalidArgumentsError", Message: "Payload is required"}, "InvalidArgumentsError", false},
		{ipctest.Reply{Unmodeled: true}, "InternalServerError", true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := ipctest.New(t, token)
			srv.OnPublish(func(ipctest.Publish) ipctest.Reply { return tt.reply })
			c := dial(t, srv)
			err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}"))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v (%T), want *Error", err, err)
			}
			if e.Code != tt.code || e.Retryable() != tt.retryable || e.Op != "PublishToIoTCore" {
				t.Fatalf("got %+v retryable=%v", e, e.Retryable())
			}
			if s := c.Stats(); s.Errors[tt.code] != 1 || s.QueuedInNucleus != 0 {
				t.Fatalf("stats %+v", s)
			}
			// The connection survives an operation error.
			srv.OnPublish(nil)
			if err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			noViolations(t, srv)
		})
	}
}

func TestUnsupportedOperation(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	err := c.invoke(t.Context(), "ListComponents", struct{}{}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != "UnsupportedOperation" || e.Retryable() {
		t.Fatalf("err %v", err)
	}
}

// TestMalformedReply: a garbage reply fails the call with an error (no
// panic, no hang), the client reconnects and the next publish works.
func TestMalformedReply(t *testing.T) {
	cases := malformed(t)
	// Well-formed frames a client must not accept as a reply either.
	cases["protocol error"] = frameBytes(t, msgProtocolErr, 0, 0, `{"message":"bad"}`)
	cases["second connect ack"] = frameBytes(t, msgConnectAck, flagConnectionAccepted, 0, "")
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			srv := ipctest.New(t, token)
			var once sync.Once
			srv.OnPublish(func(ipctest.Publish) ipctest.Reply {
				r := ipctest.Reply{}
				once.Do(func() { r.Raw = raw })
				return r
			})
			c := dial(t, srv)
			start := time.Now()
			err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}"))
			if err == nil {
				t.Fatal("publish with a malformed reply succeeded")
			}
			t.Logf("error after %v: %v", time.Since(start).Round(time.Millisecond), err)
			publishEventually(t, c)
			noViolations(t, srv)
		})
	}
}

func publishEventually(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte(`{"after":true}`))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful publish after reconnecting: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReconnect(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	for range 3 {
		if err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := c.Reconnected(), c.Reconnected() // e.g. two publishers' Ready
	srv.DropAll()
	publishEventually(t, c)
	for _, r := range []<-chan struct{}{r1, r2} {
		select {
		case <-r:
		case <-time.After(time.Second):
			t.Fatal("Reconnected did not fire")
		}
	}
	c.StopReconnected(r1)
	c.StopReconnected(r2)
	ps := srv.Publishes()
	last := ps[len(ps)-1]
	if last.Conn != 2 || last.Stream != 1 {
		t.Fatalf("after reconnect: publish on conn %d stream %d, want conn 2 stream 1", last.Conn, last.Stream)
	}
	// A drop while a call is in flight fails that call with ErrDisconnected.
	srv.OnPublish(func(ipctest.Publish) ipctest.Reply { return ipctest.Reply{Drop: true} })
	err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}"))
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("in-flight drop: err %v, want ErrDisconnected", err)
	}
	srv.OnPublish(nil)
	publishEventually(t, c)
	if s := c.Stats(); s.Reconnects < 2 || s.Connects != s.Reconnects+1 {
		t.Fatalf("stats %+v", s)
	}
	noViolations(t, srv)
}

// TestNucleusRestart: the socket goes away and comes back; calls made in
// between fail within their deadline, and publishing resumes.
func TestNucleusRestart(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.PublishToIoTCore(ctx, "t/x", AtLeastOnce, []byte("{}")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("while stopped: err %v, want ErrDisconnected", err)
	}
	time.Sleep(50 * time.Millisecond) // let a few dials fail
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	publishEventually(t, c)
	if s := c.Stats(); s.ConnectErrors == 0 || s.Reconnects != 1 {
		t.Fatalf("stats %+v", s)
	}
	noViolations(t, srv)
}

func TestPing(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	srv.Ping()
	for deadline := time.Now().Add(5 * time.Second); srv.Pongs() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("no PING_RESPONSE")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, nil); err != nil {
		t.Fatal(err)
	}
	noViolations(t, srv)
}

func TestCloseFailsCalls(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	c.Close()
	if err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestGetConfiguration(t *testing.T) {
	srv := ipctest.New(t, token)
	srv.SetConfig(nil, map[string]any{"stirling": map[string]any{"thing": "pi-01", "interval": "1s"}})
	c := dial(t, srv)
	tests := []struct {
		path []string
		want string
	}{
		{nil, `{"stirling":{"interval":"1s","thing":"pi-01"}}`},
		{[]string{"stirling"}, `{"interval":"1s","thing":"pi-01"}`},
		{[]string{"stirling", "thing"}, `{"thing":"pi-01"}`}, // a leaf comes wrapped
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.path, "."), func(t *testing.T) {
			v, err := c.GetConfiguration(t.Context(), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(v); string(b) != tt.want {
				t.Fatalf("got %s, want %s", b, tt.want)
			}
		})
	}
	_, err := c.GetConfiguration(t.Context(), []string{"nope"})
	var e *Error
	if !errors.As(err, &e) || e.Code != "ResourceNotFoundError" {
		t.Fatalf("missing key: %v", err)
	}
	noViolations(t, srv)
}

// TestWatchConfiguration: the first configuration and every valid change
// are applied, an invalid one is rejected and not applied, and changes
// still arrive after a reconnect.
func TestWatchConfiguration(t *testing.T) {
	srv := ipctest.New(t, token)
	srv.SetConfig(nil, map[string]any{"stirling": map[string]any{"interval": "1s"}})
	c := dial(t, srv)

	applied := make(chan string, 16)
	apply := func(m map[string]any) error {
		iv, _ := m["interval"].(string)
		if _, err := time.ParseDuration(iv); err != nil {
			return fmt.Errorf("interval: %w", err)
		}
		applied <- iv
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.WatchConfiguration(ctx, []string{"stirling"}, apply) }()

	expect := func(want string) {
		t.Helper()
		select {
		case got := <-applied:
			if got != want {
				t.Fatalf("applied %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q never applied", want)
		}
	}
	waitSubs := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); srv.Subscribers() != n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d subscribers, want %d", srv.Subscribers(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	expect("1s")
	waitSubs(1)

	srv.SetConfig([]string{"stirling", "interval"}, "2s")
	expect("2s")

	srv.SetConfig([]string{"stirling", "interval"}, "fast") // invalid
	for deadline := time.Now().Add(5 * time.Second); c.Stats().ConfigRejected != 1; {
		if time.Now().After(deadline) {
			t.Fatal("invalid configuration not rejected")
		}
		time.Sleep(5 * time.Millisecond)
	}

	waitResubscribes := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); c.Stats().Resubscribes != n; {
			if time.Now().After(deadline) {
				t.Fatalf("stats %+v, want %d resubscribes", c.Stats(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		waitSubs(1)
	}
	srv.DropAll()
	waitResubscribes(1) // re-subscribed after the reconnect
	srv.SetConfig([]string{"stirling", "interval"}, "3s")
	expect("3s")

	srv.EndSubscriptions() // the nucleus ends the stream; the connection stays
	waitResubscribes(2)
	srv.SetConfig([]string{"stirling", "interval"}, "4s")
	expect("4s")

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchConfiguration returned %v", err)
	}
	waitSubs(0) // the subscription was terminated
	s := c.Stats()
	if s.ConfigApplied != 4 || s.ConfigRejected != 1 || s.Resubscribes != 2 || s.Reconnects != 1 {
		t.Fatalf("stats %+v", s)
	}
	select {
	case v := <-applied:
		t.Fatalf("unexpected apply of %q", v)
	default:
	}
	noViolations(t, srv)
}

// TestWatchConfigurationStartsDisconnected: a watch started while the
// nucleus is away waits for it instead of giving up.
func TestWatchConfigurationStartsDisconnected(t *testing.T) {
	srv := ipctest.New(t, token)
	srv.SetConfig(nil, map[string]any{"interval": "1s"})
	c := dial(t, srv)
	srv.Stop()
	applied := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go c.WatchConfiguration(ctx, nil, func(map[string]any) error { applied <- struct{}{}; return nil })
	time.Sleep(100 * time.Millisecond)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
	case <-time.After(10 * time.Second):
		t.Fatal("configuration never applied after the nucleus came back")
	}
}

func TestWatchConfigurationMissingKey(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	err := c.WatchConfiguration(t.Context(), []string{"stirling"}, func(map[string]any) error { return nil })
	var e *Error
	if !errors.As(err, &e) || e.Code != "ResourceNotFoundError" {
		t.Fatalf("err %v", err)
	}
}

func batch(n int) *pipeline.Batch {
	b := &pipeline.Batch{ID: 42}
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	for i := range n {
		b.Readings = append(b.Readings, pipeline.Reading{
			Seq: uint64(i + 1), Metric: "rpm", Unit: "rpm", Time: t0.Add(time.Duration(i) * time.Second),
			Value: 1500 + float64(i), Count: 1, Min: 1500, Max: 1500, Last: 1500,
		})
	}
	return b
}

func TestPublisherSend(t *testing.T) {
	tests := []struct {
		name       string
		opts       PublisherOpts
		readings   int
		reply      ipctest.Reply
		wantMsgs   int
		wantStatus publish.Status
		wantErr    bool
	}{
		{"batch", PublisherOpts{Thing: "pi-01"}, 50, ipctest.Reply{}, 1, publish.Accepted, false},
		{"batch split by size", PublisherOpts{Thing: "pi-01", MaxPayload: 1000}, 50, ipctest.Reply{}, 6, publish.Accepted, false},
		{"sample", PublisherOpts{Thing: "pi-01", Layout: LayoutSample}, 5, ipctest.Reply{}, 5, publish.Accepted, false},
		{"local", PublisherOpts{Thing: "pi-01", Destination: DestLocal, Topic: "stirling/{thing}"}, 5, ipctest.Reply{}, 1, publish.Accepted, false},
		// An authorisation failure is the deployment's, not the readings': retry.
		{"unauthorized", PublisherOpts{Thing: "pi-01"}, 5, ipctest.Reply{Error: "UnauthorizedError", Message: "Not Authorized"}, 0, publish.Retry, true},
		{"invalid arguments", PublisherOpts{Thing: "pi-01"}, 5, ipctest.Reply{Error: "InvalidArgumentsError", Message: "bad payload"}, 0, publish.Rejected, false},
		{"service error", PublisherOpts{Thing: "pi-01"}, 5, ipctest.Reply{Error: "ServiceError", Message: "spool full"}, 0, publish.Retry, true},
		{"dropped", PublisherOpts{Thing: "pi-01"}, 5, ipctest.Reply{Drop: true}, 0, publish.Retry, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ipctest.New(t, token)
			srv.OnPublish(func(ipctest.Publish) ipctest.Reply { return tt.reply })
			c := dial(t, srv)
			p, err := NewPublisher(c, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			b := batch(tt.readings)
			res := make([]publish.Result, len(b.Readings))
			err = p.Send(t.Context(), b, res)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error %v, want error %v", err, tt.wantErr)
			}
			for i, r := range res {
				if r.Status != tt.wantStatus {
					t.Fatalf("reading %d: %v (%s), want %v", i, r.Status, r.Reason, tt.wantStatus)
				}
				if r.Status != publish.Accepted && r.Reason == "" {
					t.Fatalf("reading %d: %v without a reason", i, r.Status)
				}
			}
			ps := srv.Publishes()
			if len(ps) != tt.wantMsgs {
				t.Fatalf("%d messages, want %d", len(ps), tt.wantMsgs)
			}
			// Every reading arrives exactly once, in order, as valid JSON.
			var seqs []uint64
			for _, m := range ps {
				max := cmp.Or(tt.opts.MaxPayload, DefaultMaxPayload)
				if len(m.Payload) > max {
					t.Errorf("message of %d bytes over %d", len(m.Payload), max)
				}
				var objs []map[string]any
				if tt.opts.Layout != LayoutSample {
					if err := json.Unmarshal(m.Payload, &objs); err != nil {
						t.Fatalf("payload %s: %v", m.Payload, err)
					}
				} else {
					var o map[string]any
					if err := json.Unmarshal(m.Payload, &o); err != nil {
						t.Fatalf("payload %s: %v", m.Payload, err)
					}
					objs = append(objs, o)
				}
				for _, o := range objs {
					seqs = append(seqs, uint64(o["seq"].(float64)))
				}
				if m.Topic != p.Topic() {
					t.Errorf("topic %q", m.Topic)
				}
			}
			if tt.wantStatus == publish.Accepted {
				for i, s := range seqs {
					if s != uint64(i+1) {
						t.Fatalf("seqs %v", seqs)
					}
				}
				if len(seqs) != tt.readings {
					t.Fatalf("%d readings arrived, want %d", len(seqs), tt.readings)
				}
				if st := p.Stats(); st.ReadingsQueuedInNucleus != uint64(tt.readings) || st.MessagesQueuedInNucleus != uint64(tt.wantMsgs) {
					t.Fatalf("stats %+v", st)
				}
			}
			noViolations(t, srv)
		})
	}
}

func TestPublisherOversizedReading(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	p, err := NewPublisher(c, &PublisherOpts{Thing: "pi-01", MaxPayload: 200})
	if err != nil {
		t.Fatal(err)
	}
	b := batch(4)
	b.Readings[1].Text = strings.Repeat("long engine state ", 20)
	b.Readings[2].Value = math.NaN()
	res := make([]publish.Result, 4)
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	want := []publish.Status{publish.Accepted, publish.Rejected, publish.Rejected, publish.Accepted}
	for i := range res {
		if res[i].Status != want[i] {
			t.Fatalf("reading %d: %v %s", i, res[i].Status, res[i].Reason)
		}
	}
}

// TestPublisherEncoder: a replacement encoder (e.g. the mqtt publisher's
// layouts) decides payloads and rejections; results follow its ranges.
func TestPublisherEncoder(t *testing.T) {
	srv := ipctest.New(t, token)
	c := dial(t, srv)
	enc := func(dst []Message, b *pipeline.Batch, res []publish.Result) []Message {
		res[2] = publish.Result{Status: publish.Rejected, Reason: "not for this layout"}
		dst = append(dst, Message{Payload: []byte(`{"first":true}`), Lo: 0, Hi: 3})
		return append(dst, Message{Payload: []byte(`{"second":true}`), Lo: 3, Hi: 5})
	}
	p, err := NewPublisher(c, &PublisherOpts{Thing: "pi-01", Encode: enc})
	if err != nil {
		t.Fatal(err)
	}
	res := make([]publish.Result, 5)
	if err := p.Send(t.Context(), batch(5), res); err != nil {
		t.Fatal(err)
	}
	want := []publish.Status{publish.Accepted, publish.Accepted, publish.Rejected, publish.Accepted, publish.Accepted}
	for i := range want {
		if res[i].Status != want[i] {
			t.Fatalf("reading %d: %v", i, res[i])
		}
	}
	ps := srv.Publishes()
	if len(ps) != 2 || string(ps[0].Payload) != `{"first":true}` || string(ps[1].Payload) != `{"second":true}` {
		t.Fatalf("publishes %+v", ps)
	}
	if st := p.Stats(); st.ReadingsQueuedInNucleus != 4 || st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewPublisherTopic(t *testing.T) {
	tests := []struct {
		opts  PublisherOpts
		topic string
		ok    bool
	}{
		{PublisherOpts{Thing: "pi-01"}, "dt/stirling/pi-01/telemetry", true},
		{PublisherOpts{Topic: "$aws/rules/R/a/b/c/d/e/f/g/h", Thing: "x"}, "$aws/rules/R/a/b/c/d/e/f/g/h", true},
		{PublisherOpts{Topic: "a/b/c/d/e/f/g/h/i"}, "", false}, // 8 slashes
		{PublisherOpts{Topic: "a/+/b"}, "", false},
		{PublisherOpts{Topic: strings.Repeat("a", 257)}, "", false},
		{PublisherOpts{}, "", false}, // {thing} without a thing
		{PublisherOpts{Topic: "a", Layout: "csv"}, "", false},
		{PublisherOpts{Topic: "a", Destination: "kafka"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.opts.Topic, func(t *testing.T) {
			p, err := NewPublisher(nil, &tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if err == nil && p.Topic() != tt.topic {
				t.Fatalf("topic %q, want %q", p.Topic(), tt.topic)
			}
		})
	}
}

// jsonReading mirrors the stdout/file publishers' JSON object (package
// publish), so the IPC payload stays the same shape.
type jsonReading struct {
	Seq     uint64           `json:"seq"`
	Time    string           `json:"time"`
	Metric  string           `json:"metric"`
	Value   float64          `json:"value"`
	Unit    string           `json:"unit,omitempty"`
	Quality pipeline.Quality `json:"quality"`
	Text    string           `json:"text,omitempty"`
	Batch   uint64           `json:"batch"`
	Count   uint32           `json:"count,omitempty"`
	Min     *float64         `json:"min,omitempty"`
	Max     *float64         `json:"max,omitempty"`
	Last    *float64         `json:"last,omitempty"`
}

func TestAppendReading(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 3, 10, 23, 500_000_000, time.UTC)
	tests := []struct {
		name string
		r    pipeline.Reading
		want string
	}{
		{"sample", pipeline.Reading{Seq: 12, Metric: "rpm", Unit: "rpm", Time: t0, Value: 1512.5, Count: 1},
			`{"seq":12,"time":"2026-11-22T03:10:23.5Z","metric":"rpm","value":1512.5,"unit":"rpm","quality":"GOOD","batch":42}`},
		{"aggregate", pipeline.Reading{Seq: 1, Metric: "hot_c", Unit: "degC", Time: t0, Value: 180, Quality: pipeline.Uncertain, Count: 10, Min: 170, Max: 190, Last: 185},
			`{"seq":1,"time":"2026-11-22T03:10:23.5Z","metric":"hot_c","value":180,"unit":"degC","quality":"UNCERTAIN","batch":42,"count":10,"min":170,"max":190,"last":185}`},
		{"text", pipeline.Reading{Seq: 2, Metric: "engine_state", Time: t0, Text: "run\"ning\n<&>", Count: 1},
			`{"seq":2,"time":"2026-11-22T03:10:23.5Z","metric":"engine_state","value":0,"quality":"GOOD","text":"run\"ning\n<&>","batch":42}`},
		{"big", pipeline.Reading{Seq: 3, Metric: "x", Time: t0, Value: 1e21, Quality: pipeline.Bad}, ""},
		{"million", pipeline.Reading{Seq: 3, Metric: "x", Time: t0, Value: 1e6}, ""},
		{"tiny", pipeline.Reading{Seq: 3, Metric: "x", Time: t0, Value: -1.5e-7}, ""},
		{"fraction", pipeline.Reading{Seq: 3, Metric: "x", Time: t0, Value: 123456789.123456}, ""},
		{"unicode", pipeline.Reading{Seq: 3, Metric: "température", Unit: "°C", Time: t0, Value: 0.1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &tt.r
			got := appendReading(nil, r, 42)
			j := jsonReading{Seq: r.Seq, Time: r.Time.UTC().Format(time.RFC3339Nano), Metric: r.Metric, Value: r.Value,
				Unit: r.Unit, Quality: r.Quality, Text: r.Text, Batch: 42}
			if r.Count > 1 {
				j.Count, j.Min, j.Max, j.Last = r.Count, &r.Min, &r.Max, &r.Last
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(j); err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(buf.String(), "\n"); string(got) != want {
				t.Fatalf("differs from encoding/json\n got  %s\nwant %s", got, want)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if got := appendJSONString(nil, "a\x01\xffé"); !bytes.Equal(got, []byte(`"a\u0001\ufffdé"`)) || !json.Valid(got) {
		t.Fatalf("escaping: %s", got)
	}
}

func BenchmarkPublisherSend(b *testing.B) {
	srv := ipctest.New(b, token)
	c, err := Dial(b.Context(), &Opts{SocketPath: srv.Path, AuthToken: token})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p, err := NewPublisher(c, &PublisherOpts{Thing: "pi-01"})
	if err != nil {
		b.Fatal(err)
	}
	bt := batch(100)
	res := make([]publish.Result, len(bt.Readings))
	b.ReportAllocs()
	for b.Loop() {
		clear(res)
		if err := p.Send(b.Context(), bt, res); err != nil {
			b.Fatal(err)
		}
	}
}
