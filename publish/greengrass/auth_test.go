package greengrass

import (
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/ipctest"
	"github.com/stirling-iot/stirling/internal/publishtest"
	"github.com/stirling-iot/stirling/publish"
)

// TestUnauthorizedKeepsData: the nucleus answers UnauthorizedError (the
// component's accessControl does not grant the topic). That is the
// deployment's fault, not the readings': they stay in the spool, nothing is
// quarantined, and the publisher shows failing: unauthorized with the
// nucleus's message. It used to quarantine every reading and show idle.
func TestUnauthorizedKeepsData(t *testing.T) {
	srv := ipctest.New(t, token)
	srv.OnPublish(func(ipctest.Publish) ipctest.Reply {
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
	if len(srv.Publishes()) < 2 {
		t.Errorf("%d publish attempts: the publisher must keep retrying", len(srv.Publishes()))
	}
	noViolations(t, srv)
}
