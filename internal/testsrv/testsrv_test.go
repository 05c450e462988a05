package testsrv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "TESTSRV_REQUIRE_CHILD"

// TestRequireInCI runs a test that lacks a prerequisite in a child process,
// with and without CI=true: skipped on a laptop, failed in CI.
func TestRequireInCI(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		RequireInCI(t, "needs %s", "a unicorn")
		t.Fatal("RequireInCI returned")
	}
	for _, tc := range []struct {
		ci       string
		fails    bool
		contains string
	}{
		{"", false, "--- SKIP: TestRequireInCI"},
		{"false", false, "--- SKIP: TestRequireInCI"},
		{"true", true, "needs a unicorn (CI=true: not skipping)"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireInCI$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.fails {
			t.Errorf("CI=%q: failed %v, want %v\n%s", tc.ci, failed, tc.fails, out)
		}
		if !strings.Contains(string(out), tc.contains) {
			t.Errorf("CI=%q: output lacks %q:\n%s", tc.ci, tc.contains, out)
		}
	}
}
