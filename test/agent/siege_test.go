package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv"
	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
)

// Siege sizes: the agent's status server caps connections at 64 and event
// streams at 16 (status.Opts defaults).
const (
	siegeIdle     = 1000 // idle TCP clients held against the status port
	siegeStreams  = 40   // /events clients, over the cap of 16
	streamCap     = 16
	siegeDuration = 12 * time.Second
)

// TestStatusSiege holds 1,000 idle TCP clients and 40 event-stream clients
// against the running agent's status port. The data path must not notice:
// readings keep reaching the file publisher and the spool keeps growing at
// the rate measured just before. The status server must hold at most its
// cap: event streams over 16 get 503 with Retry-After, connections over 64
// are answered and closed at once (never queued), and both are counted on
// /metrics once the siege is over.
func TestStatusSiege(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 3*siegeIdle {
		msg := fmt.Sprintf("RLIMIT_NOFILE %d (%v); the siege needs %d descriptors", lim.Cur, err, 3*siegeIdle)
		testsrv.RequireInCI(t, "%s", msg)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	p := start(t, baseConfig(dir, 20).write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	poll(t, 30*time.Second, "readings in the file publisher", func() (bool, string) {
		s := progress(t, out, dir)
		return s.readings > 50, fmt.Sprintf("%d readings", s.readings)
	})

	// Baseline rate, no clients.
	b0 := progress(t, out, dir)
	time.Sleep(siegeDuration)
	b1 := progress(t, out, dir)
	base := b1.sub(b0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Event streams first (they need a connection slot each).
	var streamOK, streamRefused, streamErr atomic.Int64
	var events atomic.Int64 // events received by the admitted streams during the siege
	var swg sync.WaitGroup
	admitted := make(chan struct{}, siegeStreams)
	for range siegeStreams {
		swg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.Addr+"/events", nil)
			resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
			if err != nil {
				streamErr.Add(1)
				admitted <- struct{}{}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
					streamRefused.Add(1)
				} else {
					streamErr.Add(1)
				}
				admitted <- struct{}{}
				return
			}
			streamOK.Add(1)
			admitted <- struct{}{}
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "event: ") {
					events.Add(1)
				}
			}
		})
	}
	for range siegeStreams {
		<-admitted
	}
	events.Store(0)

	// The idle clients: each connects and sends nothing. A client the server
	// refuses (503 and close) or times out dials again after a second, so
	// the siege holds 1,000 clients for its whole length.
	var dials, refusedFast, refusedSlow, dialErr atomic.Int64
	var cwg sync.WaitGroup
	s0 := progress(t, out, dir)
	siegeEnd := time.Now().Add(siegeDuration)
	for range siegeIdle {
		cwg.Go(func() {
			for time.Now().Before(siegeEnd) && ctx.Err() == nil {
				c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
				if err != nil {
					dialErr.Add(1)
					time.Sleep(time.Second)
					continue
				}
				dials.Add(1)
				at := time.Now()
				_ = c.SetReadDeadline(siegeEnd)
				b, _ := io.ReadAll(c) // until the server closes it or the siege ends
				c.Close()
				// A held client is closed by the header timeout without an
				// answer; a refused one gets the 503.
				if strings.HasPrefix(string(b), "HTTP/1.1 503") {
					if time.Since(at) < 2*time.Second {
						refusedFast.Add(1)
					} else {
						refusedSlow.Add(1)
					}
				}
				time.Sleep(time.Second)
			}
		})
	}
	cwg.Wait()
	s1 := progress(t, out, dir)
	siege := s1.sub(s0)
	ev := events.Load()
	cancel()
	swg.Wait()

	t.Logf("baseline %s; siege %s", base, siege)
	t.Logf("streams: %d admitted, %d refused 503, %d errors; %d events to the admitted streams during the siege",
		streamOK.Load(), streamRefused.Load(), streamErr.Load(), ev)
	t.Logf("idle clients: %d dials, %d answered 503 within 2 s, %d later, %d dial errors",
		dials.Load(), refusedFast.Load(), refusedSlow.Load(), dialErr.Load())

	// The data path kept its pace.
	if siege.readings < base.readings/2 || siege.spoolBytes < base.spoolBytes/2 {
		t.Errorf("collection slowed under the siege: %s, baseline %s", siege, base)
	}
	// The caps held and refused at once.
	if streamOK.Load() != streamCap || streamRefused.Load() != siegeStreams-streamCap {
		t.Errorf("event streams: %d admitted, %d refused with 503 and Retry-After; want %d and %d",
			streamOK.Load(), streamRefused.Load(), streamCap, siegeStreams-streamCap)
	}
	if ev < streamCap*int64(siegeDuration/time.Second)/2 {
		t.Errorf("the admitted streams got %d events in %v; want about one status event a second each", ev, siegeDuration)
	}
	if refusedFast.Load() < siegeIdle-64 {
		t.Errorf("%d of %d idle clients refused promptly; want all over the cap of 64", refusedFast.Load(), siegeIdle)
	}

	// Afterwards the server answers again and has counted the refusals.
	var m map[string]float64
	poll(t, 20*time.Second, "/metrics after the siege", func() (bool, string) {
		var err error
		m, _, err = p.metrics()
		return err == nil, fmt.Sprint(err)
	})
	if got := m[`stirling_http_refused_total{reason="event_streams"}`]; got != float64(streamRefused.Load()) {
		t.Errorf(`stirling_http_refused_total{reason="event_streams"} = %v; want %d`, got, streamRefused.Load())
	}
	if got := m[`stirling_http_refused_total{reason="connections"}`]; got < float64(refusedFast.Load()+refusedSlow.Load()) {
		t.Errorf(`stirling_http_refused_total{reason="connections"} = %v; want at least %d`, got, refusedFast.Load()+refusedSlow.Load())
	}
	if code, body, err := p.Get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz after the siege: %d %q %v", code, body, err)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// flow is how far the data path has come: readings in the file
// publisher's output and bytes in the spool.
type flow struct {
	at         time.Time
	readings   int
	spoolBytes int64
}

func (f flow) sub(g flow) flow {
	return flow{at: f.at, readings: f.readings - g.readings, spoolBytes: f.spoolBytes - g.spoolBytes}
}

func (f flow) String() string {
	return fmt.Sprintf("%d readings delivered, %d spool bytes appended", f.readings, f.spoolBytes)
}

// progress reads the file publisher's output and sums the spool's segment
// sizes.
func progress(t *testing.T, out, dir string) flow {
	t.Helper()
	f := flow{at: time.Now()}
	if _, err := os.Stat(out); err == nil {
		recs, _ := readRecords(t, out)
		f.readings = len(recs)
	}
	_ = filepath.WalkDir(filepath.Join(dir, "spool"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				f.spoolBytes += fi.Size()
			}
		}
		return nil
	})
	return f
}
