// Package agenttest runs the stirling agent as a real process for the tests
// that need one (test/agent, test/e2e, test/bench): it builds the binary,
// starts it with a config, waits for the status server, scrapes /metrics,
// stops it with SIGTERM or SIGKILL, and keeps its output.
package agenttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot is the directory of the stirling go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the stirling module")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles ./cmd/stirling (static, CGO off) to dst and returns the
// module root it was built from.
func Build(dst string) (root string, err error) {
	root, err = ModuleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dst, "./cmd/stirling")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return root, fmt.Errorf("go build ./cmd/stirling: %w\n%s", err, out)
	}
	return root, nil
}
