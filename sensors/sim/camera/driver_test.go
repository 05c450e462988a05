package camera

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
)

// warmingEngine is a scene that changes at every subpage: an engine
// heating up from cold, with a flickering flame.
func warmingEngine(origin time.Time) func(time.Time) Temps {
	return func(t time.Time) Temps {
		s := t.Sub(origin).Seconds()
		k := 1 - math.Exp(-s/20)
		return Temps{
			Ambient:        21,
			Hot:            21 + 200*k,
			Cold:           21 + 30*k,
			Flame:          330,
			FlameOn:        true,
			FlameIntensity: 0.9 + 0.1*math.Sin(s*7),
		}
	}
}

func newDriver(t testing.TB, c *Chip, clk *clocktest.Fake, edit func(*mlx90640.Opts)) *mlx90640.Dev {
	t.Helper()
	o := mlx90640.DefaultOpts()
	o.Clock = clk
	if edit != nil {
		edit(&o)
	}
	d, err := mlx90640.New(context.Background(), c, &o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRoundTrip renders scenes in the simulator, decodes them with the
// driver and compares every pixel with the temperature the chip encoded.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		opts func(*mlx90640.Opts)
	}{
		{"4 Hz 18-bit chess", nil},
		{"2 Hz 16-bit chess", func(o *mlx90640.Opts) { o.RefreshRate = 2 * physic.Hertz; o.Resolution = 16 }},
		{"8 Hz 19-bit interleaved", func(o *mlx90640.Opts) {
			o.RefreshRate = 8 * physic.Hertz
			o.Resolution = 19
			o.Pattern = mlx90640.Interleaved
		}},
		{"64 Hz 17-bit chess, 32-word chunks", func(o *mlx90640.Opts) {
			o.RefreshRate = 64 * physic.Hertz
			o.Resolution = 17
			o.ChunkWords = 32
		}},
	}
	var worst float64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestChip(t, func(o *Opts) {
				o.Noise = 0.1
				o.Temps = warmingEngine(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			})
			d := newDriver(t, c, clk, tc.opts)
			var f sensors.Frame
			var truth [sensors.Pixels]float64
			var maxErr float64
			var compared int
			for range 12 {
				if err := d.NextFrame(context.Background(), &f); err != nil {
					t.Fatal(err)
				}
				c.Scene(&truth)
				for k := range sensors.Pixels {
					if !f.Valid[k] || !f.Updated[k].Equal(f.Time) {
						continue // not this subpage
					}
					compared++
					maxErr = max(maxErr, math.Abs(f.To[k]-truth[k]))
				}
			}
			if compared != 12*sensors.Pixels/2 {
				t.Fatalf("compared %d pixels, want %d (12 subpages)", compared, 12*sensors.Pixels/2)
			}
			ta := 21 + DefaultOpts().DieOffset
			if math.Abs(f.Ta-ta) > 0.01 || math.Abs(f.Vdd-3.3) > 0.001 {
				t.Errorf("decoded Ta %.4f Vdd %.4f, want %.2f and 3.3", f.Ta, f.Vdd, ta)
			}
			t.Logf("max |decoded - scene| = %.4f deg C over %d pixels", maxErr, compared)
			if maxErr > 0.05 {
				t.Fatalf("max error %.4f deg C, want <= 0.05", maxErr)
			}
			worst = max(worst, maxErr)
		})
	}
	t.Logf("worst round-trip error over all modes: %.4f deg C", worst)
}

// TestDriverFaults injects each fault, checks the driver surfaces it as its
// own sentinel and counts it, and that it reads good frames again once the
// fault ends.
func TestDriverFaults(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Faults)
		want    error
		counter func(mlx90640.Stats) uint64
	}{
		{"nack", func(f *Faults) { f.NACK = true }, mlx90640.ErrNACK, func(s mlx90640.Stats) uint64 { return s.NACKs }},
		{"bus timeout", func(f *Faults) { f.Timeout = true }, mlx90640.ErrBus, func(s mlx90640.Stats) uint64 { return s.BusErrors }},
		{"stuck new-data flag", func(f *Faults) { f.StuckNewData = true }, mlx90640.ErrTimeout, func(s mlx90640.Stats) uint64 { return s.Timeouts }},
		{"corrupt frames", func(f *Faults) { f.CorruptFrames = true }, mlx90640.ErrCorruptFrame, func(s mlx90640.Stats) uint64 { return s.CorruptFrames }},
		{"unplugged", func(f *Faults) { f.Unplugged = true }, mlx90640.ErrNACK, func(s mlx90640.Stats) uint64 { return s.NACKs }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestChip(t, nil)
			d := newDriver(t, c, clk, nil)
			ctx := context.Background()
			var f sensors.Frame
			if err := d.NextFrame(ctx, &f); err != nil {
				t.Fatal(err)
			}
			if err := c.UpdateFaults(tc.set); err != nil {
				t.Fatal(err)
			}
			before := tc.counter(d.Stats())
			err := d.NextFrame(ctx, &f)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NextFrame = %v, want an error wrapping %v", err, tc.want)
			}
			if got := tc.counter(d.Stats()); got <= before {
				t.Fatalf("driver counter stayed at %d after %v", got, err)
			}
			if c.Stats().Faults == 0 {
				t.Fatal("chip counted no injected fault")
			}
			if err := c.SetFaults(Faults{}); err != nil {
				t.Fatal(err)
			}
			// A replugged chip runs its power-on configuration: the agent
			// must configure it again, as it would after any bus error.
			if tc.name == "unplugged" {
				if ctrl := c.ctrl; ctrl == d.Control() {
					t.Fatalf("control %#04x survived the replug", ctrl)
				}
				d = newDriver(t, c, clk, nil)
			}
			seq := f.Seq
			for range 2 {
				if err := d.NextFrame(ctx, &f); err != nil {
					t.Fatalf("after the fault ended: %v", err)
				}
			}
			if f.Seq == seq {
				t.Fatal("no new frames after the fault ended")
			}
		})
	}
}

// TestDriverTransientNACKs runs the driver on a bus that drops 2 % of the
// transactions: some subpages fail, none decodes wrong.
func TestDriverTransientNACKs(t *testing.T) {
	c, clk := newTestChip(t, nil)
	d := newDriver(t, c, clk, nil)
	if err := c.SetFaults(Faults{NACKProbability: 0.02, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	var f sensors.Frame
	var truth [sensors.Pixels]float64
	var ok, failed int
	for range 100 {
		if err := d.NextFrame(context.Background(), &f); err != nil {
			if !errors.Is(err, mlx90640.ErrNACK) {
				t.Fatalf("NextFrame = %v, want ErrNACK", err)
			}
			failed++
			continue
		}
		ok++
		c.Scene(&truth)
		for k := range sensors.Pixels {
			if f.Updated[k].Equal(f.Time) && math.Abs(f.To[k]-truth[k]) > 0.05 {
				t.Fatalf("pixel %d decoded %.3f, scene %.3f", k, f.To[k], truth[k])
			}
		}
	}
	if failed == 0 || ok < 50 || d.Stats().NACKs != uint64(failed) {
		t.Fatalf("%d frames ok, %d failed, driver NACKs %d", ok, failed, d.Stats().NACKs)
	}
}

// BenchmarkReadCompute is one subpage through the whole simulated path: the
// driver polls the status register, the chip renders and encodes the scene,
// the driver reads the 832 RAM words over the simulated bus and computes the
// temperatures into a Frame.
func BenchmarkReadCompute(b *testing.B) {
	clk := newStepClock()
	o := DefaultOpts()
	o.Clock = clk
	c, err := New(&o)
	if err != nil {
		b.Fatal(err)
	}
	d := newDriver(b, c, clk, nil)
	var f sensors.Frame
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.NextFrame(ctx, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubpage is the simulator's share: rendering and encoding one
// subpage.
func BenchmarkSubpage(b *testing.B) {
	clk := newStepClock()
	o := DefaultOpts()
	o.Clock = clk
	c, err := New(&o)
	if err != nil {
		b.Fatal(err)
	}
	// Overwrite on: every completed subpage is rendered, read or not.
	if err := c.Tx(DefaultAddr, []byte{0x80, 0x00, 0x00, 0x10}, nil); err != nil {
		b.Fatal(err)
	}
	var st [2]byte
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(500 * time.Millisecond)
		if err := c.Tx(DefaultAddr, []byte{0x80, 0x00}, st[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRoundTripEEPROMs runs the round trip with the other calibrations of
// the shared vectors (read from the driver's testdata): another real
// sensor, a third one, one with negative Kta/Kv and a TGC, and one with a
// broken and an outlier pixel (which the driver interpolates, so they are
// not compared).
func TestRoundTripEEPROMs(t *testing.T) {
	for _, name := range []string{
		"A_f0_chess18_sp0_e095_trTa8",
		"C_B1_chess16_e095_trTa8",
		"As_f1_chess18_sp1_signstress_e095_trTa8",
		"Abp_f0_chess18_sp0_badpix_e095_trTa8",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "mlx90640", "testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				EEPROM []uint16 `json:"eeprom"`
			}
			if err := json.Unmarshal(b, &v); err != nil || len(v.EEPROM) != eeWords {
				t.Fatalf("%s: %d EEPROM words, %v", name, len(v.EEPROM), err)
			}
			ee := new([eeWords]uint16)
			copy(ee[:], v.EEPROM)
			c, clk := newTestChip(t, func(o *Opts) {
				o.EEPROM = ee
				o.Noise = 0.1
				o.Temps = warmingEngine(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			})
			d := newDriver(t, c, clk, nil)
			var f sensors.Frame
			var truth [sensors.Pixels]float64
			var maxErr float64
			var compared, bad int
			for range 6 {
				if err := d.NextFrame(context.Background(), &f); err != nil {
					t.Fatal(err)
				}
				c.Scene(&truth)
				for k := range sensors.Pixels {
					switch {
					case !f.Updated[k].Equal(f.Time):
					case f.Bad[k]:
						bad++
					default:
						compared++
						maxErr = max(maxErr, math.Abs(f.To[k]-truth[k]))
					}
				}
			}
			t.Logf("max |decoded - scene| = %.4f deg C over %d pixels (%d bad pixels skipped)", maxErr, compared, bad)
			if maxErr > 0.05 || compared < 6*sensors.Pixels/2-bad {
				t.Fatalf("max error %.4f deg C over %d pixels, want <= 0.05", maxErr, compared)
			}
		})
	}
}
