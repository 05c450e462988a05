package mqtt

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// packedReading is one reading as a consumer of the packed layout
// reconstructs it.
type packedReading struct {
	Seq                   uint64
	Metric, Unit, Quality string
	TS                    int64
	Value                 float64
	Text                  string
}

// decodePacked reconstructs the readings of one packed message and checks
// the envelope's seq range against them.
func decodePacked(t testing.TB, payload []byte) []packedReading {
	t.Helper()
	var env struct {
		Seq     uint64            `json:"seq"`
		SeqLast uint64            `json:"seq_last"`
		TS      int64             `json:"ts"`
		Metrics []string          `json:"metrics"`
		Units   []string          `json:"units"`
		Rows    [][]any           `json:"rows"`
		Quality map[string]string `json:"quality"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		t.Fatalf("payload not JSON: %v\n%s", err, payload)
	}
	if len(env.Units) != len(env.Metrics) {
		t.Fatalf("%d units for %d metrics", len(env.Units), len(env.Metrics))
	}
	var out []packedReading
	for _, row := range env.Rows {
		if len(row) < 4 || len(row)%2 != 0 {
			t.Fatalf("row %v: want [dt, seq offset, (metric, value)...]", row)
		}
		dt, off := row[0].(float64), row[1].(float64)
		for k := 2; k < len(row); k += 2 {
			m := int(row[k].(float64))
			r := packedReading{Seq: env.Seq + uint64(off) + uint64(k/2-1), Metric: env.Metrics[m], Unit: env.Units[m], TS: env.TS + int64(dt), Quality: "GOOD"}
			switch v := row[k+1].(type) {
			case float64:
				r.Value = v
			case string:
				r.Text = v
			default:
				t.Fatalf("row %v: value %v", row, v)
			}
			if q, ok := env.Quality[strconv.FormatUint(r.Seq, 10)]; ok {
				r.Quality = q
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 || out[0].Seq != env.Seq || out[len(out)-1].Seq != env.SeqLast {
		t.Fatalf("envelope seq %d..%d does not match readings %v", env.Seq, env.SeqLast, out)
	}
	return out
}

func TestEncodePackedRoundTrip(t *testing.T) {
	s := loadSchema(t, "../../schemas/packed.schema.json")
	t0 := time.UnixMilli(1_700_000_000_123)
	b := engineBatch(4, 50, 30, t0)
	b.Readings = append(b.Readings,
		pipeline.Reading{Seq: 200, Metric: "engine_state", Time: t0, Text: "run\"ning", Quality: pipeline.Uncertain}, // seq gap, time back
		pipeline.Reading{Seq: 201, Metric: "flame_c", Unit: "degC", Time: t0, Value: 1.0 / 3, Quality: pipeline.Bad},
		pipeline.Reading{Seq: 202, Metric: "nan", Time: t0, Value: math.NaN()},
		pipeline.Reading{Seq: 203, Metric: "big", Time: t0, Text: strings.Repeat("x", MaxPayload)},
		pipeline.Reading{Seq: 204, Metric: "rpm", Unit: "rpm", Time: t0.Add(time.Hour), Value: -1e300},
	)
	for _, max := range []int{BillingUnit - 40, MaxPayload} {
		e := newEncoder(Packed, "pi-01", max)
		res := make([]publish.Result, len(b.Readings))
		msgs := e.encode(nil, b, res)
		var got []packedReading
		for i, m := range msgs {
			if len(m.payload) > max {
				t.Errorf("max %d: message %d: %d bytes", max, i, len(m.payload))
			}
			if err := validateJSON(s, m.payload); err != nil {
				t.Fatalf("message %d: schema: %v\n%s", i, err, m.payload)
			}
			got = append(got, decodePacked(t, m.payload)...)
		}
		var want []packedReading
		for i, r := range b.Readings {
			if r.Seq == 202 || r.Seq == 203 {
				if res[i].Status != publish.Rejected || res[i].Reason == "" {
					t.Errorf("reading %d: %+v, want rejected with a reason", r.Seq, res[i])
				}
				continue
			}
			if res[i].Status != publish.Retry {
				t.Errorf("reading %d: %v before any ack", r.Seq, res[i].Status)
			}
			want = append(want, packedReading{Seq: r.Seq, Metric: r.Metric, Unit: r.Unit, Quality: r.Quality.String(), TS: r.Time.UnixMilli(), Value: r.Value, Text: r.Text})
		}
		if len(got) != len(want) {
			t.Fatalf("max %d: %d readings decoded, want %d", max, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("max %d: reading %d = %+v, want %+v", max, i, got[i], want[i])
			}
		}
	}
}

// Every message but the last is filled to within one reading of its
// billing-unit boundary, and none crosses it.
func TestPackedFillsBillingUnits(t *testing.T) {
	topic := "dt/stirling/pi-01/telemetry"
	b := engineBatch(9, 1, 8000, time.UnixMilli(1_700_000_000_000))
	for _, limit := range []int{1024, BillingUnit, 3 * BillingUnit, MaxPayload} {
		max := packedCap(topic, limit)
		e := newEncoder(Packed, "pi-01", max)
		res := make([]publish.Result, len(b.Readings))
		msgs := e.encode(nil, b, res)
		if len(msgs) < 2 {
			t.Fatalf("limit %d: %d messages, want a split", limit, len(msgs))
		}
		units := Units(topic, max)
		for i, m := range msgs {
			n := len(topic) + len(m.payload)
			if n > units*BillingUnit && limit >= BillingUnit {
				t.Errorf("limit %d: message %d: %d bytes with the topic, over %d units", limit, i, n, units)
			}
			if len(m.payload) > max {
				t.Errorf("limit %d: message %d: %d bytes, over %d", limit, i, len(m.payload), max)
			}
			if i < len(msgs)-1 && max-len(m.payload) > 40 {
				t.Errorf("limit %d: message %d: %d bytes, %d short of %d", limit, i, len(m.payload), max-len(m.payload), max)
			}
		}
	}
}

func TestPublisherFits(t *testing.T) {
	topic := "dt/stirling/pi-01/telemetry"
	t0 := time.UnixMilli(1_700_000_000_000)
	for _, layout := range []Layout{Packed, Batch} {
		p := &Publisher{topic: topic, enc: encoderPool{layout: layout, device: "pi-01", max: payloadCap(Opts{Layout: layout, Topic: topic, MaxPayload: MaxPayload})}}
		if !p.Fits(engineBatch(1, 1, 1, t0)) {
			t.Errorf("%s: one timestamp does not fit", layout)
		}
		n := 1
		for p.Fits(engineBatch(1, 1, n+1, t0)) {
			n++
		}
		// The largest batch that fits encodes to one message of one unit.
		e := newEncoder(layout, "pi-01", MaxPayload)
		b := engineBatch(1, 1, n, t0)
		msgs := e.encode(nil, b, make([]publish.Result, len(b.Readings)))
		if len(msgs) != 1 || Units(topic, len(msgs[0].payload)) != 1 {
			t.Errorf("%s: %d timestamps fit, but encode to %d messages", layout, n, len(msgs))
		}
		t.Logf("%s: %d timestamps of %d readings fit in one unit", layout, n, len(testMetrics))
	}
}
