package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
)

// rec is one reading as a subscriber saw it.
type rec struct {
	seq     uint64
	metric  string
	ts      int64 // epoch ms, sensor (virtual) time
	arrival time.Time
	msg     int // index of the message that carried it
	// restart is the restart announcement of the message that carried
	// it, on the message's first reading only.
	restart *announcement
}

// announcement is a message's "restart" object.
type announcement struct {
	PreviousSeq *uint64 `json:"previous_seq"`
	PreviousTS  *int64  `json:"previous_ts"`
}

func (a *announcement) String() string {
	if a == nil {
		return "none"
	}
	s := "previous_seq "
	if a.PreviousSeq == nil {
		s += "missing"
	} else {
		s += fmt.Sprint(*a.PreviousSeq)
	}
	if a.PreviousTS != nil {
		s += fmt.Sprintf(" previous_ts %d", *a.PreviousTS)
	}
	return s
}

// parseMessages decodes every message of the given layout. It fails the
// test on a malformed message: an unknown key, a wrong device, an envelope
// seq range that does not match its readings.
func parseMessages(t *testing.T, layout, device string, msgs []mosquittotest.Message) []rec {
	t.Helper()
	var out []rec
	for i, m := range msgs {
		var rs []rec
		var err error
		if layout == "batch" {
			rs, err = parseBatch(m.Payload, device)
		} else {
			rs, err = parseSample(m.Payload, device)
		}
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, m.Payload)
		}
		for j := range rs {
			rs[j].arrival, rs[j].msg = m.At, i
		}
		out = append(out, rs...)
	}
	return out
}

func parseBatch(p []byte, device string) ([]rec, error) {
	var env struct {
		Device   string        `json:"device"`
		Batch    uint64        `json:"batch"`
		Seq      uint64        `json:"seq"`
		SeqLast  uint64        `json:"seq_last"`
		Restart  *announcement `json:"restart"`
		Readings []struct {
			Seq     uint64   `json:"seq"`
			Metric  string   `json:"metric"`
			Unit    string   `json:"unit"`
			TS      int64    `json:"ts"`
			Value   *float64 `json:"value"`
			Text    string   `json:"text"`
			Quality string   `json:"quality"`
			Count   uint32   `json:"count"`
			Min     *float64 `json:"min"`
			Max     *float64 `json:"max"`
			Last    *float64 `json:"last"`
		} `json:"readings"`
	}
	d := json.NewDecoder(bytes.NewReader(p))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return nil, err
	}
	if env.Device != device || len(env.Readings) == 0 || env.Readings[0].Seq != env.Seq || env.Readings[len(env.Readings)-1].Seq != env.SeqLast {
		return nil, fmt.Errorf("bad envelope: device %q seq %d..%d, %d readings", env.Device, env.Seq, env.SeqLast, len(env.Readings))
	}
	out := make([]rec, 0, len(env.Readings))
	for _, r := range env.Readings {
		if r.Value == nil || r.Metric == "" || (r.Quality != "GOOD" && r.Quality != "UNCERTAIN" && r.Quality != "BAD") {
			return nil, fmt.Errorf("bad reading seq %d", r.Seq)
		}
		out = append(out, rec{seq: r.Seq, metric: r.Metric, ts: r.TS})
	}
	out[0].restart = env.Restart
	return out, nil
}

var sampleSuffixes = []string{"_quality"}

// parseSample streams the object so the key order (the readings' seq order)
// is kept: the n-th metric key is reading seq+n.
func parseSample(p []byte, device string) ([]rec, error) {
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var seq, seqLast uint64
	var ts int64
	var dev string
	var restart *announcement
	var metrics []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		if key == "restart" {
			restart = new(announcement)
			if err := d.Decode(restart); err != nil {
				return nil, fmt.Errorf("restart: %w", err)
			}
			continue
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		num := func() int64 {
			n, _ := v.(json.Number).Int64()
			return n
		}
		switch key {
		case "device":
			dev, _ = v.(string)
		case "batch":
		case "seq":
			seq = uint64(num())
		case "seq_last":
			seqLast = uint64(num())
		case "ts":
			ts = num()
		default:
			suffix := false
			for _, m := range metrics {
				for _, s := range sampleSuffixes {
					suffix = suffix || key == m+s
				}
			}
			if !suffix {
				metrics = append(metrics, key)
			}
		}
	}
	if dev != device || seq == 0 || seqLast < seq || uint64(len(metrics)) != seqLast-seq+1 {
		return nil, fmt.Errorf("bad sample: device %q seq %d..%d with %d metrics", dev, seq, seqLast, len(metrics))
	}
	out := make([]rec, len(metrics))
	for i, m := range metrics {
		out[i] = rec{seq: seq + uint64(i), metric: m, ts: ts}
	}
	out[0].restart = restart
	return out, nil
}

// figures sums up a run.
type figures struct {
	Test              string
	Speedup           float64
	Messages          int
	Readings          int       // distinct readings received
	MaxSeq            uint64    // highest seq received
	Lost              int       // seqs in 1..MaxSeq never received
	DupReadings       int       // readings received more than once (extra copies)
	DupMessages       int       // messages whose every reading was already received
	ArrivalInversions int       // first copies arriving with a seq lower than an earlier one
	TSInversions      int       // per metric, a reading older than the previous one by seq
	InversionSeqs     [2]uint64 // lowest and highest seq at which a time inversion happened
	InversionDetail   []string  // the first few inversions, for the log
	SimMinutes        float64   // sensor time covered
	OutageReal        time.Duration
	Reconnect         time.Duration // broker accepting again -> agent reports the MQTT link up (/metrics, 20 ms polls)
	FirstAfterUp      time.Duration // broker accepting again -> first message received
	DrainTime         time.Duration // broker accepting again -> caught up with the live edge
	RestartToSpool    time.Duration // SIGKILL restart -> first batch spooled (kill test)
	DropCounters      map[string]float64
}

func (f figures) String() string {
	return fmt.Sprintf("%s: speedup %gx, %.1f simulated min, %d messages, %d readings (max seq %d), lost %d, duplicated %d readings / %d messages, arrival inversions %d, per-metric time inversions %d (seqs %v), outage %v real, reconnect within %v, first message %v after the broker came back, drain %v, restart-to-first-spool %v, non-zero drop counters %v",
		f.Test, f.Speedup, f.SimMinutes, f.Messages, f.Readings, f.MaxSeq, f.Lost, f.DupReadings, f.DupMessages,
		f.ArrivalInversions, f.TSInversions, f.InversionSeqs, f.OutageReal.Round(time.Millisecond), f.Reconnect.Round(time.Millisecond), f.FirstAfterUp.Round(time.Millisecond),
		f.DrainTime.Round(time.Millisecond), f.RestartToSpool.Round(time.Millisecond), f.DropCounters)
}

// analyze computes the figures of a run (FirstAfterUp, DrainTime and the
// like are filled in by the caller).
func analyze(recs []rec, nMsgs int) figures {
	f := figures{Messages: nMsgs}
	seen := map[uint64]bool{}
	msgNew := map[int]bool{}
	var maxFirst uint64
	lastTS := map[string]int64{}
	var firsts []rec
	for _, r := range recs {
		if seen[r.seq] {
			f.DupReadings++
			continue
		}
		seen[r.seq] = true
		msgNew[r.msg] = true
		if r.seq < maxFirst {
			f.ArrivalInversions++
		}
		maxFirst = max(maxFirst, r.seq)
		firsts = append(firsts, r)
	}
	f.Readings = len(seen)
	f.MaxSeq = maxFirst
	f.Lost = int(maxFirst) - len(seen)
	f.DupMessages = nMsgs - len(msgNew)
	slices.SortFunc(firsts, func(a, b rec) int { return int(a.seq) - int(b.seq) })
	var minTS, maxTS int64
	for i, r := range firsts {
		if prev, ok := lastTS[r.metric]; ok && r.ts < prev {
			if f.TSInversions == 0 {
				f.InversionSeqs[0] = r.seq
			}
			f.TSInversions++
			f.InversionSeqs[1] = r.seq
			if len(f.InversionDetail) < 30 {
				f.InversionDetail = append(f.InversionDetail, fmt.Sprintf("%s seq %d ts %d < %d (-%v)", r.metric, r.seq, r.ts, prev, time.Duration(prev-r.ts)*time.Millisecond))
			}
		}
		lastTS[r.metric] = r.ts
		if i == 0 || r.ts < minTS {
			minTS = r.ts
		}
		maxTS = max(maxTS, r.ts)
	}
	f.SimMinutes = float64(maxTS-minTS) / 60000
	return f
}

// report logs the figures and appends them to the report file.
func report(t *testing.T, f figures) {
	t.Helper()
	t.Log(f.String())
	path := os.Getenv("STIRLING_E2E_REPORT")
	if path == "" {
		path = filepath.Join(repoRoot, "bin", "e2e-report.txt")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Logf("report: %v", err)
		return
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("report: %v", err)
		return
	}
	defer fh.Close()
	fmt.Fprintf(fh, "%s %s\n", time.Now().UTC().Format(time.RFC3339), strings.ReplaceAll(f.String(), "\n", " "))
}

// TestAnalyze checks the bookkeeping on a hand-made stream.
func TestAnalyze(t *testing.T) {
	at := time.Now()
	recs := []rec{
		{seq: 1, metric: "rpm", ts: 1000, msg: 0}, {seq: 2, metric: "hot", ts: 1000, msg: 0},
		{seq: 3, metric: "rpm", ts: 2000, msg: 1},
		{seq: 3, metric: "rpm", ts: 2000, msg: 2}, // duplicate message
		{seq: 6, metric: "rpm", ts: 1500, msg: 3}, // gap 4,5 and a time inversion
		{seq: 5, metric: "hot", ts: 3000, msg: 4}, // arrival inversion
	}
	for i := range recs {
		recs[i].arrival = at
	}
	f := analyze(recs, 5)
	want := figures{Messages: 5, Readings: 5, MaxSeq: 6, Lost: 1, DupReadings: 1, DupMessages: 1, ArrivalInversions: 1, TSInversions: 1, InversionSeqs: [2]uint64{6, 6}, SimMinutes: float64(2000) / 60000}
	if f.String() != want.String() {
		t.Errorf("analyze:\n got %s\nwant %s", f, want)
	}
}

func TestParseSample(t *testing.T) {
	p := []byte(`{"device":"d","batch":1,"seq":7,"seq_last":9,"ts":5,"rpm":1,"rpm_quality":"GOOD","hot":2,"hot_quality":"GOOD","state":"running","state_quality":"BAD"}`)
	rs, err := parseSample(p, "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0] != (rec{seq: 7, metric: "rpm", ts: 5}) || rs[2] != (rec{seq: 9, metric: "state", ts: 5}) {
		t.Errorf("parseSample = %+v", rs)
	}
	if _, err := parseSample([]byte(`{"device":"d","batch":1,"seq":7,"seq_last":9,"ts":5,"rpm":1}`), "d"); err == nil {
		t.Error("a sample with fewer metrics than its seq range parsed")
	}
}
