package camera

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestFaultsSet(t *testing.T) {
	tests := []struct {
		kind string
		want Faults
	}{
		{KindNACK, Faults{NACK: true}},
		{KindTimeout, Faults{Timeout: true}},
		{KindFlaky, Faults{NACKProbability: FlakyProbability}},
		{KindStuckNewData, Faults{StuckNewData: true}},
		{KindCorrupt, Faults{CorruptFrames: true}},
		{KindUnplugged, Faults{Unplugged: true}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			var f Faults
			if err := f.Set(tc.kind, true); err != nil {
				t.Fatal(err)
			}
			if f != tc.want {
				t.Fatalf("on: %+v, want %+v", f, tc.want)
			}
			if err := f.Set(tc.kind, false); err != nil {
				t.Fatal(err)
			}
			if f != (Faults{}) {
				t.Fatalf("off: %+v, want no fault", f)
			}
		})
	}
	var f Faults
	if err := f.Set("dead_pixels", true); !errors.Is(err, ErrKind) {
		t.Fatalf("Set(dead_pixels) = %v, want ErrKind", err)
	}
}

func TestFaultsYAML(t *testing.T) {
	const doc = `
nack: true
timeout: true
timeout_delay: 100ms
stuck_new_data: true
corrupt_frames: true
unplugged: true
nack_probability: 0.25
seed: 9
`
	var f Faults
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	want := Faults{NACK: true, Timeout: true, TimeoutDelay: 100 * time.Millisecond, StuckNewData: true,
		CorruptFrames: true, Unplugged: true, NACKProbability: 0.25, Seed: 9}
	if f != want {
		t.Fatalf("decoded %+v, want %+v", f, want)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}
