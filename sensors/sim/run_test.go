package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
)

func TestFlameOutWindow(t *testing.T) {
	s := newSim(t, Config{Scenario: ScenarioSteady, Seed: 1, Faults: []Fault{{Kind: FaultFlameOut, At: 10 * time.Second, For: 20 * time.Second}}}, fixedClock{})
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{5 * time.Second, true}, {15 * time.Second, false}, {29 * time.Second, false}, {31 * time.Second, true}} {
		if got := s.State(origin.Add(tc.at)).FlameOn; got != tc.want {
			t.Errorf("flame at %v: %v, want %v", tc.at, got, tc.want)
		}
	}
	if st := s.State(origin.Add(29 * time.Second)); st.Flame > st.Ambient+1 || st.RPM >= 600 {
		t.Errorf("19 s after the flame went out: %+v", st)
	}
}

// TestRunCameraWindow: Run switches a camera fault on and off with its
// window of engine time.
func TestRunCameraWindow(t *testing.T) {
	clk := clock.NewScaled(origin, 20)
	s := newSim(t, Config{Scenario: ScenarioIdle, Seed: 1, Faults: []Fault{{Kind: "camera_unplugged", At: 2 * time.Second, For: 4 * time.Second}}}, clk)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	seen := map[bool]time.Duration{}
	for ctx.Err() == nil {
		at := clk.Now().Sub(origin)
		on := s.Camera().Faults().Unplugged
		if _, ok := seen[on]; !ok || (!on && at > 6*time.Second) {
			seen[on] = at
		}
		if at > 10*time.Second {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Run applies the windows at their boundaries (and once a second of
	// engine time).
	if on, ok := seen[true]; !ok || on < 2*time.Second || on > 5*time.Second {
		t.Errorf("unplugged first seen at %v, want soon after 2s", on)
	}
	if off := seen[false]; off < 6*time.Second {
		t.Errorf("never plugged back in after the window (last seen off at %v)", off)
	}
	if st := s.Stats(); st.EngineTime < 7*time.Second {
		t.Errorf("Run did not keep the model in step: %v", st.EngineTime)
	}
}
