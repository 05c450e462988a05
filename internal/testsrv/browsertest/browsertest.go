// Package browsertest starts a real headless Chromium for tests, through
// chromedp, with the flags this build environment needs (no sandbox as root,
// no background networking, a fresh profile per test).
//
// When Chromium is missing the test is skipped, except under CI=true, where a
// missing browser fails the test: CI must never pass by skipping.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/stirling-iot/stirling/internal/testsrv"
)

// ErrNoBrowser means no Chromium binary was found.
var ErrNoBrowser = errors.New("browsertest: chromium not found (install it with scripts/deps.sh)")

// candidates are the Chromium binaries tried in order. /usr/bin/chromium on
// Debian is a shell wrapper; the real binary is preferred.
func candidates() []string {
	return []string{
		"/usr/lib/chromium/chromium",
		"chromium",
		"chromium-browser",
		"google-chrome",
		"google-chrome-stable",
	}
}

// ExecPath returns the Chromium binary to run: $CHROMIUM if set, otherwise
// the first of the usual locations that exists.
func ExecPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, c := range candidates() {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Options returns the allocator options for a headless Chromium with a
// profile in userDataDir.
func Options(execPath, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses to start as root without it
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("force-color-profile", "srgb"),
	}
}

// New starts a headless Chromium and returns a chromedp context for one tab,
// bounded by timeout. The browser is stopped when the test ends. Without a
// browser the test is skipped, or fails when the CI environment variable is
// "true".
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		testsrv.RequireInCI(t, "%v", err)
	}
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser exits, which fails its cleanup.
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), Options(path, dir)...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	tctx, tcancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		tcancel()
		cancel() // closes the tab and the browser
		acancel()
		for range 20 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// Start the browser now so that a broken install fails here, clearly,
	// and record CSP violations on every page the tab loads (CheckCSP).
	watch := chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(cspWatcher).Do(ctx)
		return err
	})
	if err := chromedp.Run(tctx, watch); err != nil {
		t.Fatalf("browsertest: start chromium %s: %v", path, err)
	}
	return tctx
}

// cspWatcher runs before the page's own scripts and collects the
// Content-Security-Policy violations the page causes.
const cspWatcher = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
	window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// CheckCSP fails the test if the page in ctx's tab violated its
// Content-Security-Policy (an inline style or script the policy blocked, a
// fetch to another origin...): with the policy in force such code silently
// does nothing.
func CheckCSP(t testing.TB, ctx context.Context) {
	t.Helper()
	var v []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.__cspViolations || []`, &v)); err != nil {
		t.Fatalf("browsertest: read CSP violations: %v", err)
	}
	if len(v) > 0 {
		t.Errorf("the page violated its Content-Security-Policy %d times:\n%s", len(v), strings.Join(v, "\n"))
	}
}
