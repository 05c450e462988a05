package mqtt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// TestEncodeRestart: a batch that announces a restart carries it on its
// first message only, in every layout, as the schemas describe it.
func TestEncodeRestart(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_123)
	for _, layout := range []Layout{Sample, Batch} {
		s := loadSchema(t, "../../schemas/"+string(layout)+".schema.json")
		for _, rs := range []*pipeline.Restart{
			{PreviousSeq: 400, PreviousTime: t0.Add(-3 * time.Second)},
			{}, // the previous spool was unreadable
			nil,
		} {
			b := engineBatch(9, 401, 50, t0)
			b.Restart = rs
			e := newEncoder(layout, "pi-01", 4096)
			res := make([]publish.Result, len(b.Readings))
			msgs := e.encode(nil, b, res)
			if len(msgs) < 2 {
				t.Fatalf("%s: %d messages, want several", layout, len(msgs))
			}
			for i, m := range msgs {
				if len(m.payload) > 4096 {
					t.Errorf("%s message %d: %d bytes, over the limit", layout, i, len(m.payload))
				}
				if err := validateJSON(s, m.payload); err != nil {
					t.Fatalf("%s message %d: schema: %v\n%s", layout, i, err, m.payload)
				}
				var env struct {
					Restart *struct {
						PreviousSeq *uint64 `json:"previous_seq"`
						PreviousTS  *int64  `json:"previous_ts"`
					} `json:"restart"`
				}
				if err := json.Unmarshal(m.payload, &env); err != nil {
					t.Fatal(err)
				}
				switch {
				case i > 0 || rs == nil:
					if env.Restart != nil {
						t.Errorf("%s message %d (restart %+v) announces a restart", layout, i, rs)
					}
				case env.Restart == nil || env.Restart.PreviousSeq == nil || *env.Restart.PreviousSeq != rs.PreviousSeq:
					t.Errorf("%s first message: restart %s, want previous_seq %d", layout, m.payload, rs.PreviousSeq)
				case rs.PreviousTime.IsZero() != (env.Restart.PreviousTS == nil):
					t.Errorf("%s first message: restart %s, want previous_ts only when known", layout, m.payload)
				case env.Restart.PreviousTS != nil && *env.Restart.PreviousTS != rs.PreviousTime.UnixMilli():
					t.Errorf("%s first message: previous_ts %d, want %d", layout, *env.Restart.PreviousTS, rs.PreviousTime.UnixMilli())
				}
			}
		}
	}
}

// "restart" is a key of the sample layout, not a metric name.
func TestSampleRestartReserved(t *testing.T) {
	if sampleMetricProblem("restart") == "" {
		t.Error(`metric "restart" accepted in the sample layout`)
	}
}
