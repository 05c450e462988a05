package sim

import (
	"testing"
	"time"
)

// BenchmarkEngine measures the model (with the GPIO line's edge
// generation) in engine seconds per wall second: how fast a scaled clock
// can run it on one core.
func BenchmarkEngine(b *testing.B) {
	s, err := New(Config{Scenario: ScenarioSteady, SteadyRPM: 3000, Seed: 1}, &Opts{Clock: fixedClock{}})
	if err != nil {
		b.Fatal(err)
	}
	g := s.GPIO()
	t := origin
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Second)
		s.mu.Lock()
		s.eng.advance(t)
		g.queue, g.head = g.queue[:0], 0 // as if read
		s.mu.Unlock()
	}
	b.ReportMetric(t.Sub(origin).Seconds()/b.Elapsed().Seconds(), "speedup")
}
