package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// TestROIReload: the running agent picks up a rewritten ROI file (what
// `stirling calibrate` saves), refuses an invalid one while keeping its
// regions, and the pixel counts of the readings follow the new regions.
func TestROIReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rois := filepath.Join(dir, "rois.yaml")
	write := func(body string) {
		t.Helper()
		// Atomic, as calibrate saves: temporary file, then rename.
		tmp := rois + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rois); err != nil {
			t.Fatal(err)
		}
	}
	write("hot_cylinder:  {x: 4,  y: 6,  w: 8, h: 8}\ncold_cylinder: {x: 20, y: 6,  w: 8, h: 8}\nflame:         {x: 5,  y: 16, w: 6, h: 6}\n")
	p := start(t, baseConfig(dir, 20).write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	waitPixels := func(want float64) {
		t.Helper()
		poll(t, 20*time.Second, fmt.Sprintf("hot_cylinder_pixels = %v", want), func() (bool, string) {
			st, err := p.status()
			if err != nil {
				return false, err.Error()
			}
			for _, r := range st.Readings {
				if r.Metric == "hot_cylinder_pixels" {
					return r.Value == want, fmt.Sprintf("hot_cylinder_pixels %v", r.Value)
				}
			}
			return false, "no hot_cylinder_pixels reading"
		})
	}
	waitPixels(64)

	// A smaller hot cylinder: 6x5 = 30 pixels.
	write("hot_cylinder:  {x: 5,  y: 7,  w: 6, h: 5}\ncold_cylinder: {x: 20, y: 6,  w: 8, h: 8}\nflame:         {x: 5,  y: 16, w: 6, h: 6}\n")
	p.Stderr.Wait(t, regexp.MustCompile(`msg="ROI file reloaded"[^\n]*hot_cylinder=`), 15*time.Second)
	waitPixels(30)

	// Overlapping cylinders are refused; the 30-pixel region stays.
	write("hot_cylinder:  {x: 4,  y: 6,  w: 20, h: 8}\ncold_cylinder: {x: 20, y: 6,  w: 8, h: 8}\nflame:         {x: 5,  y: 16, w: 6, h: 6}\n")
	p.Stderr.Wait(t, regexp.MustCompile(`level=ERROR msg="ROI file rejected: keeping the current regions"[^\n]*`), 15*time.Second)
	m, _, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m["stirling_roi_reloads_total"] < 1 || m["stirling_roi_reload_errors_total"] < 1 {
		t.Errorf("roi_reloads_total %v, roi_reload_errors_total %v; want both >= 1",
			m["stirling_roi_reloads_total"], m["stirling_roi_reload_errors_total"])
	}
	time.Sleep(300 * time.Millisecond) // a few more windows at 20x
	waitPixels(30)

	p.Signal(syscall.SIGINT)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGINT; want 0", code)
	}
}
