package status

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stirling-iot/stirling/internal/testsrv/browsertest"
)

// TestPageInBrowser loads the live page in a real headless Chromium against
// a server fed by a changing source: the heat map must render (pixels read
// back through JS) and the displayed numbers must change.
func TestPageInBrowser(t *testing.T) {
	src := newFakeSource(200 * time.Millisecond)
	srv := newTestServer(t, src, nil)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	bctx := browsertest.New(t, 60*time.Second)
	url := "http://" + srv.Addr() + "/"
	// distinct counts the distinct colours on the heat map canvas.
	const distinct = `(() => {
		const c = document.getElementById('heatmap');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		const s = new Set();
		for (let i = 0; i < d.length; i += 4 * 97) s.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
		return s.size;
	})()`
	var colours int
	var rpm1, rpm2, seq1, seq2 string
	err := chromedp.Run(bctx,
		chromedp.Navigate(url),
		chromedp.Poll(`window.stirlingPage && stirlingPage.frameEvents > 0 && stirlingPage.statusEvents > 0`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(distinct, &colours),
		chromedp.Text("#rpm-now", &rpm1, chromedp.ByID),
		chromedp.Text("#frame-seq", &seq1, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if colours < 10 {
		t.Fatalf("heat map has %d distinct colours; want a rendered image", colours)
	}
	// Wait for at least one more status event (one per second).
	err = chromedp.Run(bctx,
		chromedp.Poll(`stirlingPage.statusEvents >= 3`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text("#rpm-now", &rpm2, chromedp.ByID),
		chromedp.Text("#frame-seq", &seq2, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if rpm1 == rpm2 || seq1 == seq2 {
		t.Fatalf("numbers did not change: rpm %q -> %q, frame %q -> %q", rpm1, rpm2, seq1, seq2)
	}
	// The temperature under the cursor.
	var readout string
	err = chromedp.Run(bctx,
		chromedp.MouseClickXY(5, 5), // wake the page
		chromedp.Evaluate(`(() => { const c = document.getElementById('heatmap'), r = c.getBoundingClientRect();
			c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width*16.5/32, clientY: r.top + r.height*12.5/24}));
			return document.getElementById('cursor').textContent; })()`, &readout),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := "x=16 y=12:"; len(readout) < len(want) || readout[:len(want)] != want {
		t.Fatalf("cursor readout %q, want prefix %q", readout, want)
	}
	browsertest.CheckCSP(t, bctx)
	t.Logf("colours=%d rpm %s -> %s, %s -> %s, cursor %q", colours, rpm1, rpm2, seq1, seq2, readout)
}
