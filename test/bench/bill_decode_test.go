package bench

import (
	"encoding/json"
	"testing"
)

// countReadings counts the readings in one message of the given layout.
func countReadings(b testing.TB, layout string, payload []byte) int {
	b.Helper()
	var env struct {
		Seq      uint64            `json:"seq"`
		SeqLast  uint64            `json:"seq_last"`
		Readings []json.RawMessage `json:"readings"`
		Rows     [][]any           `json:"rows"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		b.Fatalf("message not JSON: %v", err)
	}
	switch layout {
	case "batch":
		return len(env.Readings)
	case "packed":
		n := 0
		for _, r := range env.Rows {
			n += (len(r) - 2) / 2
		}
		return n
	}
	return int(env.SeqLast - env.Seq + 1)
}
