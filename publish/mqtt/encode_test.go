package mqtt

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

var testMetrics = []struct{ name, unit string }{
	{"rpm", "rpm"}, {"hot_cylinder_c", "degC"}, {"cold_cylinder_c", "degC"}, {"flame_c", "degC"},
}

// engineBatch makes n timestamps of the four engine metrics, seqs from
// firstSeq, one timestamp every 100 ms from t0.
func engineBatch(id, firstSeq uint64, n int, t0 time.Time) *pipeline.Batch {
	b := &pipeline.Batch{ID: id}
	seq := firstSeq
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		for j, m := range testMetrics {
			r := pipeline.Reading{Seq: seq, Metric: m.name, Unit: m.unit, Time: ts, Value: float64(1000*j + i), Count: 1}
			if j == 1 {
				r.Count, r.Min, r.Max, r.Last = 10, 1, 3, 2.5
			}
			b.Readings = append(b.Readings, r)
			seq++
		}
	}
	return b
}

// decoded is what a consumer extracts from either layout: the readings'
// seqs, in message order.
func decodeSeqs(t *testing.T, layout Layout, payload []byte) []uint64 {
	t.Helper()
	if layout == Packed {
		var seqs []uint64
		for _, r := range decodePacked(t, payload) {
			seqs = append(seqs, r.Seq)
		}
		return seqs
	}
	var env struct {
		Seq      uint64 `json:"seq"`
		SeqLast  uint64 `json:"seq_last"`
		Readings []struct {
			Seq uint64 `json:"seq"`
		} `json:"readings"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		t.Fatalf("payload not JSON: %v\n%s", err, payload)
	}
	var seqs []uint64
	if layout == Batch {
		for _, r := range env.Readings {
			seqs = append(seqs, r.Seq)
		}
		if len(seqs) == 0 || seqs[0] != env.Seq || seqs[len(seqs)-1] != env.SeqLast {
			t.Fatalf("envelope seq %d..%d does not match readings %v", env.Seq, env.SeqLast, seqs)
		}
		return seqs
	}
	for s := env.Seq; s <= env.SeqLast; s++ {
		seqs = append(seqs, s)
	}
	return seqs
}

func TestEncodeLayouts(t *testing.T) {
	sample := loadSchema(t, "../../schemas/sample.schema.json")
	batch := loadSchema(t, "../../schemas/batch.schema.json")
	t0 := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name     string
		layout   Layout
		max      int
		b        *pipeline.Batch
		wantMsgs int
	}{
		{"sample groups a timestamp", Sample, MaxPayload, engineBatch(7, 1, 5, t0), 5},
		{"batch one message", Batch, MaxPayload, engineBatch(7, 1, 5, t0), 1},
		{"batch split at 4 KiB", Batch, 4096, engineBatch(8, 100, 200, t0), 0},
		{"batch split at 128 KiB", Batch, MaxPayload, engineBatch(9, 1, 2000, t0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEncoder(tt.layout, "pi-01", tt.max)
			res := make([]publish.Result, len(tt.b.Readings))
			msgs := e.encode(nil, tt.b, res)
			if tt.wantMsgs > 0 && len(msgs) != tt.wantMsgs {
				t.Errorf("%d messages, want %d", len(msgs), tt.wantMsgs)
			}
			if tt.wantMsgs == 0 && len(msgs) < 2 {
				t.Errorf("%d messages, want a split", len(msgs))
			}
			s := sample
			if tt.layout == Batch {
				s = batch
			}
			var got []uint64
			for i, m := range msgs {
				if len(m.payload) > tt.max {
					t.Errorf("message %d: %d bytes > %d", i, len(m.payload), tt.max)
				}
				if err := validateJSON(s, m.payload); err != nil {
					t.Fatalf("message %d: schema: %v\n%s", i, err, m.payload)
				}
				got = append(got, decodeSeqs(t, tt.layout, m.payload)...)
			}
			for i, r := range tt.b.Readings {
				if i >= len(got) || got[i] != r.Seq {
					t.Fatalf("reading %d: seqs in messages %v..., want contiguous from %d", i, got[:min(len(got), 10)], tt.b.Readings[0].Seq)
				}
			}
			if len(got) != len(tt.b.Readings) {
				t.Errorf("%d readings in messages, want %d", len(got), len(tt.b.Readings))
			}
			for i, r := range res {
				if r.Status != publish.Retry {
					t.Errorf("reading %d: status %v before any ack", i, r.Status)
				}
			}
		})
	}
}

func TestEncodeSampleFields(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_123)
	b := &pipeline.Batch{ID: 3, Readings: []pipeline.Reading{
		{Seq: 10, Metric: "rpm", Time: t0, Value: 1512.5, Count: 1},
		{Seq: 11, Metric: "engine_state", Time: t0, Text: "run\"ning\n", Quality: pipeline.Uncertain, Count: 1},
		{Seq: 12, Metric: "flame_c", Time: t0, Value: 3, Quality: pipeline.Bad, Count: 1},
		{Seq: 13, Metric: "rpm", Time: t0, Value: 1, Count: 1},                                    // same key again: new object
		{Seq: 14, Metric: "rpm_quality", Time: t0, Value: 1, Count: 1},                            // collides with rpm's quality key
		{Seq: 16, Metric: "hot_c", Time: t0, Value: 2, Count: 3, Min: 1, Max: 3, Last: 2},         // seq gap: new object
		{Seq: 17, Metric: "ts", Time: t0, Value: 2, Count: 1},                                     // reserved: rejected
		{Seq: 18, Metric: "cold_c", Time: t0.Add(time.Millisecond), Value: 3, Count: 1},           // new timestamp
		{Seq: 19, Metric: "big", Time: t0.Add(time.Millisecond), Text: strings.Repeat("x", 3000)}, // too large alone
		{Seq: 20, Metric: "nan", Time: t0.Add(time.Millisecond), Value: math.NaN()},               // not finite
		{Seq: 21, Metric: "agg", Time: t0.Add(time.Millisecond), Value: math.Inf(-1)},             // not finite
	}}
	e := newEncoder(Sample, "pi-01", 2048)
	res := make([]publish.Result, len(b.Readings))
	msgs := e.encode(nil, b, res)
	var got []map[string]any
	for _, m := range msgs {
		var v map[string]any
		if err := json.Unmarshal(m.payload, &v); err != nil {
			t.Fatalf("%v: %s", err, m.payload)
		}
		got = append(got, v)
	}
	if len(got) != 5 {
		t.Fatalf("%d messages, want 5: %v", len(got), got)
	}
	first := got[0]
	for k, want := range map[string]any{
		"device": "pi-01", "batch": 3.0, "seq": 10.0, "seq_last": 12.0, "ts": 1700000000123.0,
		"rpm": 1512.5, "rpm_quality": "GOOD", "engine_state": "run\"ning\n", "engine_state_quality": "UNCERTAIN",
		"flame_c": 3.0, "flame_c_quality": "BAD",
	} {
		if v, ok := first[k]; !ok || v != want {
			t.Errorf("first object %s = %#v, want %#v", k, v, want)
		}
	}
	if got[3]["hot_c"] != 2.0 || got[3]["seq"] != 16.0 || len(got[3]) != 7 {
		t.Errorf("aggregate object = %v, want value and quality only", got[3])
	}
	for i, want := range []publish.Status{publish.Retry, publish.Retry, publish.Retry, publish.Retry, publish.Retry, publish.Retry, publish.Rejected, publish.Retry, publish.Rejected, publish.Rejected, publish.Rejected} {
		if res[i].Status != want {
			t.Errorf("reading %d (%s): %v, want %v", i, b.Readings[i].Metric, res[i].Status, want)
		}
		if want == publish.Rejected && res[i].Reason == "" {
			t.Errorf("reading %d rejected without a reason", i)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\t\r\n", "héllo ✓", "bad\xffutf8", "\u2028"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q -> %s: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("%q -> %s -> %q, want %q", s, got, back, want)
		}
	}
}
