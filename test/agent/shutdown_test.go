package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
)

// The shutdown tests: SIGTERM delivers everything spooled before the agent
// exits when the destinations are reachable, and exits inside the budget
// Greengrass allows (SIGKILL 5 s after SIGTERM) when one is not.

// syncedLine is the agent's last log line of a clean stop; last_seq is the
// newest reading in the spool.
var syncedLine = regexp.MustCompile(`msg="spool synced".* last_seq=(\d+)`)

// stopResult is what one SIGTERM did.
type stopResult struct {
	took    time.Duration // SIGTERM to exit
	lastSeq uint64        // the newest reading spooled
}

// sigterm sends SIGTERM to p, waits for a clean exit inside the 5 s
// Greengrass allows, and returns how long it took and the spool's last seq.
func sigterm(t *testing.T, p *proc) stopResult {
	t.Helper()
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.Wait(10 * time.Second)
	took := p.Ended().Sub(sent)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM; want 0", code)
	}
	if took >= 5*time.Second {
		t.Errorf("exit took %v after SIGTERM; Greengrass kills after 5 s", took)
	}
	m := syncedLine.FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("no \"spool synced ... last_seq=N\" log line:\n%s", agenttest.Tail(p.Stderr.String(), 3000))
	}
	last, _ := strconv.ParseUint(m[1], 10, 64)
	if last == 0 {
		t.Fatal("last_seq=0: nothing was spooled")
	}
	return stopResult{took: took, lastSeq: last}
}

// missingSeqs lists the seqs of 1..last not in seen (at most the first 5,
// and the count).
func missingSeqs(seen map[uint64]bool, last uint64) (n int, first []uint64) {
	for s := uint64(1); s <= last; s++ {
		if !seen[s] {
			n++
			if len(first) < 5 {
				first = append(first, s)
			}
		}
	}
	return n, first
}

func seqSet(recs []record) map[uint64]bool {
	seen := make(map[uint64]bool, len(recs))
	for _, r := range recs {
		seen[r.Seq] = true
	}
	return seen
}

// checkDelivered fails the test unless seen holds every seq 1..last.
func checkDelivered(t *testing.T, who string, seen map[uint64]bool, last uint64) {
	t.Helper()
	if n, first := missingSeqs(seen, last); n > 0 {
		t.Errorf("%s: %d of %d spooled readings undelivered at exit (first: %v)", who, n, last, first)
	}
}

// TestSIGTERMFlushesLocalPublishers: after SIGTERM the stdout and file
// publishers have written every reading the spool holds, including the
// ones the shutdown itself closed into the spool; nothing is left for the
// next start to print first.
func TestSIGTERMFlushesLocalPublishers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	c := baseConfig(dir, 50)
	c["publishers"] = []any{
		map[string]any{"type": "file", "path": out, "rotate_bytes": "1GiB"},
		map[string]any{"type": "stdout"},
	}
	p := start(t, c.write(t, dir), agenttest.Opts{})
	p.WaitReady(15 * time.Second)
	poll(t, 20*time.Second, "readings in the file publisher", func() (bool, string) {
		n := fileSize(out)
		return n > 2000, strconv.FormatInt(n, 10) + " bytes"
	})
	// Half a sync interval or so: readings appended but not yet synced.
	time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
	res := sigterm(t, p)
	t.Logf("SIGTERM to exit %v, last_seq %d", res.took.Round(time.Millisecond), res.lastSeq)

	recs, torn := readRecords(t, out)
	if torn > 0 {
		t.Errorf("%d torn lines in the file after a clean stop", torn)
	}
	checkDelivered(t, "file", seqSet(recs), res.lastSeq)
	stdout, _ := parseRecords([]byte(p.Stdout.String()))
	checkDelivered(t, "stdout", seqSet(stdout), res.lastSeq)
}

// sampleSeqs adds the readings seq..seq_last of each sample-layout message
// to seen; it returns the number of messages it could not parse.
func sampleSeqs(msgs []mosquittotest.Message, seen map[uint64]bool) (bad int) {
	for _, m := range msgs {
		var h struct {
			Seq     uint64 `json:"seq"`
			SeqLast uint64 `json:"seq_last"`
		}
		if err := json.Unmarshal(m.Payload, &h); err != nil || h.Seq == 0 || h.SeqLast < h.Seq {
			bad++
			continue
		}
		for s := h.Seq; s <= h.SeqLast; s++ {
			seen[s] = true
		}
	}
	return bad
}

// mqttPublisher is a sample-layout mqtt publisher config for broker at
// endpoint on topic.
func mqttPublisher(b *mosquittotest.Broker, endpoint, topic string) map[string]any {
	return map[string]any{
		"type": "mqtt", "name": "mqtt", "endpoint": endpoint, "topic": topic, "layout": "sample",
		"cert_file": b.Certs.ClientCert, "key_file": b.Certs.ClientKey, "ca_file": b.Certs.CAFile,
		"keepalive": "30s", "qos": 1,
	}
}

// TestSIGTERMDeliversEverything: SIGTERM at a random moment, with the
// broker up, leaves 0 spooled readings undelivered, at the subscriber and
// in the file publisher, in 20 runs of 20. The simulated engine runs at 20x,
// so about 380 readings a second reach the spool and up to a sync interval
// of them (1 s) are not yet visible to the publishers at the signal. It
// logs the time from SIGTERM to exit (median and max).
func TestSIGTERMDeliversEverything(t *testing.T) {
	t.Parallel()
	runs := 20
	if testing.Short() {
		runs = 3
	}
	broker := mosquittotest.Start(t, nil)
	var took []time.Duration
	for run := range runs {
		ok := t.Run(fmt.Sprintf("run%02d", run), func(t *testing.T) {
			dir := t.TempDir()
			topic := fmt.Sprintf("stirling/shutdown/%d/%d", os.Getpid(), run)
			sub := broker.Subscribe(t, topic)
			out := filepath.Join(dir, "out.jsonl")
			c := baseConfig(dir, 20)
			c["publishers"] = []any{
				mqttPublisher(broker, broker.Addr, topic),
				map[string]any{"type": "file", "path": out, "rotate_bytes": "1GiB"},
			}
			p := start(t, c.write(t, dir), agenttest.Opts{})
			p.WaitReady(15 * time.Second)
			sub.WaitN(t, 1, 20*time.Second)
			time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
			res := sigterm(t, p)
			took = append(took, res.took)

			recs, torn := readRecords(t, out)
			if torn > 0 {
				t.Errorf("%d torn lines in the file after a clean stop", torn)
			}
			checkDelivered(t, "file", seqSet(recs), res.lastSeq)
			// What the broker acknowledged reaches the subscriber a moment
			// later.
			seen := map[uint64]bool{}
			deadline := time.Now().Add(3 * time.Second)
			for {
				clear(seen)
				if bad := sampleSeqs(sub.Messages(), seen); bad > 0 {
					t.Fatalf("%d messages the subscriber could not parse", bad)
				}
				if n, _ := missingSeqs(seen, res.lastSeq); n == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			checkDelivered(t, "subscriber", seen, res.lastSeq)
			t.Logf("SIGTERM to exit %v, last_seq %d", res.took.Round(time.Millisecond), res.lastSeq)
		})
		if !ok {
			break
		}
	}
	if len(took) > 0 {
		slices.Sort(took)
		t.Logf("SIGTERM to exit over %d runs: median %v, max %v", len(took),
			took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
}

// TestSIGTERMBrokerDown: with the broker unreachable (the connection
// dropped and refused) or hung (connected, answering nothing), SIGTERM
// still exits cleanly inside the budget; the file publisher is flushed and
// the mqtt publisher's readings stay in the spool for the next start.
func TestSIGTERMBrokerDown(t *testing.T) {
	t.Parallel()
	broker := mosquittotest.Start(t, nil)
	for _, tc := range []struct {
		name string
		down func(*mosquittotest.Proxy)
	}{
		{"refused", (*mosquittotest.Proxy).Down},
		{"hung", (*mosquittotest.Proxy).Stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := mosquittotest.NewProxy(t, broker.Addr)
			dir := t.TempDir()
			out := filepath.Join(dir, "out.jsonl")
			topic := fmt.Sprintf("stirling/shutdown/%d/%s", os.Getpid(), tc.name)
			sub := broker.Subscribe(t, topic)
			c := baseConfig(dir, 20)
			c["publishers"] = []any{
				mqttPublisher(broker, px.Addr, topic),
				map[string]any{"type": "file", "path": out, "rotate_bytes": "1GiB"},
			}
			p := start(t, c.write(t, dir), agenttest.Opts{})
			p.WaitReady(15 * time.Second)
			sub.WaitN(t, 1, 20*time.Second)
			tc.down(px)
			time.Sleep(500 * time.Millisecond)
			res := sigterm(t, p)
			t.Logf("SIGTERM to exit with the broker %s: %v", tc.name, res.took.Round(time.Millisecond))
			if res.took >= 4*time.Second {
				t.Errorf("exit took %v after SIGTERM with the broker %s; want < 4 s", res.took, tc.name)
			}
			recs, _ := readRecords(t, out)
			checkDelivered(t, "file", seqSet(recs), res.lastSeq)
			if !undeliveredLogged(p.Stderr.String(), "mqtt") {
				t.Errorf("no log line says the mqtt publisher's readings stay in the spool:\n%s", agenttest.Tail(p.Stderr.String(), 3000))
			}
		})
	}
}

// undeliveredLogged reports whether the agent's log says publisher stopped
// with records left in the spool.
func undeliveredLogged(log, publisher string) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `msg="publisher not drained`) && strings.Contains(l, "publisher="+publisher+" ") {
			return true
		}
	}
	return false
}
