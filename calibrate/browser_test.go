package calibrate

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/stirling-iot/stirling/internal/testsrv/browsertest"
	"github.com/stirling-iot/stirling/sensors"
)

// drag presses the left button at (x0, y0), moves in steps to (x1, y1) and
// releases it, with real mouse events.
func drag(x0, y0, x1, y1 float64) chromedp.Tasks {
	t := chromedp.Tasks{
		chromedp.MouseEvent(input.MouseMoved, x0, y0),
		chromedp.MouseEvent(input.MousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	}
	for i := 1; i <= 5; i++ {
		f := float64(i) / 5
		t = append(t, chromedp.MouseEvent(input.MouseMoved, x0+(x1-x0)*f, y0+(y1-y0)*f, chromedp.ButtonLeft))
	}
	return append(t, chromedp.MouseEvent(input.MouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// TestPageInBrowser drives the calibration page in a real headless
// Chromium: the heat map renders, a region dragged with the mouse moves and
// another is resized, and Save writes the file.
func TestPageInBrowser(t *testing.T) {
	s, path := startServer(t, "tok")
	ctx := browsertest.New(t, 60*time.Second)

	var colours int
	var rect struct{ Left, Top, Width, Height float64 }
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL("")), // with ?token=, then the cookie
		chromedp.Poll(`window.calib && calib.frames > 1`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`(() => { const c = document.getElementById('heatmap'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, s = new Set();
			for (let i = 0; i < d.length; i += 4 * 89) s.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]); return s.size; })()`, &colours),
		chromedp.Evaluate(`(() => { const r = document.getElementById('heatmap').getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`, &rect),
	)
	if err != nil {
		t.Fatal(err)
	}
	if colours < 10 {
		t.Fatalf("heat map has %d distinct colours; want a rendered image", colours)
	}
	cell := rect.Width / sensors.Width
	at := func(px, py float64) (float64, float64) { return rect.Left + px*cell, rect.Top + py*cell }

	// Move the cold cylinder (20,5,7,8) by +2 columns, +1 row: grab its middle.
	x0, y0 := at(23.5, 9)
	x1, y1 := at(25.5, 10)
	// Resize the flame (11,16,4,3) by dragging its bottom-right corner 2 pixels out.
	fx0, fy0 := at(15, 19)
	fx1, fy1 := at(17, 21)
	var cold, flame sensors.ROI
	err = chromedp.Run(ctx,
		drag(x0, y0, x1, y1),
		drag(fx0, fy0, fx1, fy1),
		chromedp.Evaluate(`calib.rois.cold_cylinder`, &cold),
		chromedp.Evaluate(`calib.rois.flame`, &flame),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sensors.ROI{X: 22, Y: 6, W: 7, H: 8}); cold != want {
		t.Fatalf("cold cylinder after drag %s, want %s", cold, want)
	}
	if want := (sensors.ROI{X: 11, Y: 16, W: 6, H: 5}); flame != want {
		t.Fatalf("flame after resize %s, want %s", flame, want)
	}

	// Keyboard: the flame is selected after its resize; Shift+Left shrinks
	// it back by one column, Up moves it up one row.
	err = chromedp.Run(ctx,
		chromedp.KeyEvent(kb.ArrowLeft, chromedp.KeyModifiers(input.ModifierShift)),
		chromedp.KeyEvent(kb.ArrowUp),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Evaluate(`calib.rois.flame`, &flame),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sensors.ROI{X: 11, Y: 16, W: 5, H: 5}); flame != want {
		t.Fatalf("flame after keys %s, want %s", flame, want)
	}

	var msg string
	err = chromedp.Run(ctx,
		chromedp.Click("#save", chromedp.ByID),
		chromedp.Poll(`calib.saves === 1`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#msg", &msg, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadROIs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := goodROIs()
	want.ColdCylinder = sensors.ROI{X: 22, Y: 6, W: 7, H: 8}
	want.Flame = sensors.ROI{X: 11, Y: 16, W: 5, H: 5}
	if got != want || !strings.Contains(msg, "saved to") {
		t.Fatalf("file %+v, want %+v; message %q", got, want, msg)
	}

	// Dragging the cold cylinder onto the hot one is refused with a message
	// and the file stays as it was.
	// Grab it at column 25.5 and drop it 11 columns left: x 22 -> 11,
	// on top of the hot cylinder (columns 9..15).
	x0, y0 = at(25.5, 10)
	x1, y1 = at(14.5, 10)
	err = chromedp.Run(ctx,
		drag(x0, y0, x1, y1),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.Poll(`document.getElementById('msg').className.includes('bad')`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#msg", &msg, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "overlap") {
		t.Fatalf("message %q, want an overlap error", msg)
	}
	if again, err := LoadROIs(path); err != nil || again != want {
		t.Fatalf("file changed after a refused save: %+v %v", again, err)
	}
	browsertest.CheckCSP(t, ctx)
	t.Logf("colours=%d cold=%s flame=%s refused: %q", colours, cold, flame, msg)
}
