package sitewise

import (
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/publishtest"
	"github.com/stirling-iot/stirling/internal/testsrv/sitewisetest"
	"github.com/stirling-iot/stirling/publish"
)

// TestAccessDeniedKeepsData: SiteWise refuses the whole request with
// AccessDeniedException (the role alias's policy lacks
// iotsitewise:BatchPutAssetPropertyValue). The readings stay in the spool,
// nothing is quarantined, and the publisher shows failing: unauthorized. It
// used to quarantine every reading and show idle.
func TestAccessDeniedKeepsData(t *testing.T) {
	srv := sitewisetest.New(t)
	srv.Fault = func(int, *sitewisetest.Request) *sitewisetest.Fault {
		return &sitewisetest.Fault{Status: 403, Code: "AccessDeniedException", Message: "User: arn:aws:sts::123:assumed-role/GreengrassV2TokenExchangeRole is not authorized to perform: iotsitewise:BatchPutAssetPropertyValue"}
	}
	p := newPublisher(t, srv, Opts{})
	rig := publishtest.Start(t, p, 3, 4, publish.RunnerOpts{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond})
	st := rig.WaitState(t, 20*time.Second, "failing: unauthorized", func(st publish.RunnerStats) bool {
		return st.State == publish.StateFailing && strings.Contains(st.Reason, "unauthorized") || st.Rejected > 0
	})
	if !strings.Contains(st.LastError, "AccessDeniedException") {
		t.Errorf("last_error %q does not name AccessDeniedException", st.LastError)
	}
	rig.CheckKept(t, 3)
	if n := len(srv.Requests()); n < 2 {
		t.Errorf("%d requests: the publisher must keep retrying", n)
	}
}
