package greengrass

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/ipctest"
	"github.com/stirling-iot/stirling/internal/testsrv/publishtest"
	"github.com/stirling-iot/stirling/publish"
)

// TestUnauthorizedKeepsData: the nucleus answers UnauthorizedError (the
// component's accessControl does not grant the topic). That is the
// deployment's fault, not the readings': they stay in the spool, nothing is
// quarantined, and the publisher shows failing: unauthorized with the
// nucleus's message. It used to quarantine every reading and show idle.
func TestUnauthorizedKeepsData(t *testing.T) {
	srv := ipctest.New(t, token)
	var mu sync.Mutex
	attempts := 0
	srv.OnPublish(func(ipctest.Publish) ipctest.Reply {
		mu.Lock()
		attempts++
		mu.Unlock()
		return ipctest.Reply{Error: "UnauthorizedError", Message: "Principal com.stirling.Agent is not authorized to perform aws.greengrass#PublishToIoTCore"}
	})
	p, err := NewPublisher(dial(t, srv), &PublisherOpts{Thing: "pi-01"})
	if err != nil {
		t.Fatal(err)
	}
	rig := publishtest.Start(t, p, 3, 4, publish.RunnerOpts{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond})
	st := rig.WaitState(t, 20*time.Second, "failing: unauthorized", func(st publish.RunnerStats) bool {
		return st.State == publish.StateFailing && strings.Contains(st.Reason, "unauthorized") || st.Rejected > 0
	})
	if !strings.Contains(st.LastError, "UnauthorizedError") || !strings.Contains(st.LastError, "not authorized to perform") {
		t.Errorf("last_error %q does not carry the nucleus's answer", st.LastError)
	}
	rig.CheckKept(t, 3)
	mu.Lock()
	defer mu.Unlock()
	if attempts < 2 {
		t.Errorf("%d publish attempts: the publisher must keep retrying", attempts)
	}
	noViolations(t, srv)
}

// TestConnectLate: a client made with Connect while the nucleus is away
// fails calls at once with the dial error (classed unavailable), connects
// once the socket listens, fires Reconnected, and publishes. A wrong token
// is classed unauthorized and retried with backoff.
func TestConnectLate(t *testing.T) {
	srv := ipctest.New(t, token)
	srv.Stop()
	c, err := Connect(&Opts{SocketPath: srv.Path, AuthToken: token, CallTimeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ready := c.Reconnected()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}"))
		if errors.Is(err, ErrDisconnected) && errors.Is(err, publish.ErrUnavailable) && strings.Contains(err.Error(), srv.Path) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while the nucleus is away: err %v, want ErrDisconnected with the dial error", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("Reconnected did not fire when the nucleus came")
	}
	publishEventually(t, c)
	noViolations(t, srv)

	bad, err := Connect(&Opts{SocketPath: srv.Path, AuthToken: "wrong", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bad.Close() })
	deadline = time.Now().Add(5 * time.Second)
	for {
		err := bad.PublishToIoTCore(t.Context(), "t/x", AtLeastOnce, []byte("{}"))
		if errors.Is(err, ErrConnectRejected) && errors.Is(err, publish.ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wrong token: err %v, want ErrConnectRejected classed unauthorized", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if _, rej := srv.Connects(); rej < 2 || rej > 15 {
		t.Errorf("%d rejected CONNECTs in about 0.5 s: want retries with backoff", rej)
	}
}
