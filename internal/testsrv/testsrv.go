// Package testsrv is the home of the test servers (ipctest, mosquittotest,
// sitewisetest, tlstest, browsertest, agenttest, publishtest), kept apart
// from production code the way net/http/httptest is. It holds what they
// and the tests that use them share: the rule that a missing prerequisite
// skips a test on a laptop but fails it in CI.
//
// Only tests import these packages; no production binary links them.
package testsrv

import (
	"fmt"
	"os"
	"testing"
)

// InCI reports whether the test runs in CI (CI=true), where every test must
// run and a missing prerequisite is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireInCI ends a test whose prerequisite (root, a tool, a browser, a
// broker) is missing: it is skipped with the message, or failed when
// CI=true.
func RequireInCI(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: not skipping)", msg)
	}
	t.Skip(msg)
}
