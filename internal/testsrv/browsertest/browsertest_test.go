package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestNewRendersCanvas(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><canvas id=c width=4 height=4></canvas>
<script>const g=document.getElementById('c').getContext('2d');g.fillStyle='rgb(255,0,0)';g.fillRect(0,0,4,4);</script>`))
	}))
	defer srv.Close()
	ctx := New(t, 30*time.Second)
	var px []int
	err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.Evaluate(`Array.from(document.getElementById('c').getContext('2d').getImageData(1,1,1,1).data)`, &px),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(px) != 4 || px[0] != 255 || px[1] != 0 || px[3] != 255 {
		t.Fatalf("pixel = %v, want red", px)
	}
}
