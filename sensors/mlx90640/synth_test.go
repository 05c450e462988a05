package mlx90640

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSynthesizeRoundTrip checks decode(synthesize(scene)) over every EEPROM
// in testdata, random scenes of -20..400 deg C, both patterns, both
// subpages, all four resolutions and a few die temperatures, supply
// voltages, emissivities and reflected temperatures.
func TestSynthesizeRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	worst, worstE1, worstTa, worstVdd := 0.0, 0.0, 0.0, 0.0
	for _, v := range loadVectors(t) {
		key := fmt.Sprint(v.EEPROM)
		if seen[key] {
			continue
		}
		seen[key] = true
		p, _ := ExtractParameters(v.EEPROM)
		if p == nil {
			t.Fatalf("%s: no params", v.name)
		}
		rng := rand.New(rand.NewPCG(1, uint64(len(seen))))
		for _, pt := range []Pattern{Chess, Interleaved} {
			for res := range 4 {
				for sp := range 2 {
					name := fmt.Sprintf("%s/%v/%dbit/sp%d", v.name, pt, 16+res, sp)
					ta := 10 + 50*rng.Float64()
					vdd := 3.2 + 0.2*rng.Float64()
					em := []float64{1, 0.95, 0.8}[rng.IntN(3)]
					tr := math.NaN()
					if rng.IntN(2) == 0 {
						tr = 15 + 10*rng.Float64()
					}
					var scene, got [Pixels]float64
					for i := range scene {
						scene[i] = -20 + 420*rng.Float64()
					}
					// A second, gentle scene: room temperature with one
					// hot spot, the common case for the engine.
					ctrl := uint16(pt)<<12 | uint16(res)<<10 | 3<<7 | 1
					var ram RawFrame
					for i := range ram[:RAMSize] {
						ram[i] = 0x0123 // stale data, must be overwritten where it matters
					}
					gv, gt := p.Synthesize(sp, ctrl, ta, vdd, em, tr, &scene, &ram)
					if err := ram.Validate(); err != nil {
						t.Fatalf("%s: synthesized frame invalid: %v", name, err)
					}
					for i := range got {
						got[i] = math.NaN()
					}
					dv, dt := p.Compute(&ram, em, tr, &got)
					if dv != gv || dt != gt {
						t.Fatalf("%s: Synthesize returned vdd %v ta %v, Compute %v %v", name, gv, gt, dv, dt)
					}
					worstTa = max(worstTa, math.Abs(dt-ta))
					worstVdd = max(worstVdd, math.Abs(dv-vdd))
					for k := range Pixels {
						if !InSubpage(pt, sp, k) {
							if !math.IsNaN(got[k]) {
								t.Fatalf("%s: pixel %d of the other subpage computed", name, k)
							}
							continue
						}
						d := math.Abs(got[k] - scene[k])
						// Half a count of the pixel word, in kelvin: the
						// quantisation bound of this pixel.
						q := halfCount(p, &ram, em, tr, k)
						if !(d <= q+1e-4) {
							t.Errorf("%s: pixel %d: scene %.4f decoded %.4f, more than the quantisation bound %.4f", name, k, scene[k], got[k], q)
						}
						worst = max(worst, d)
						if em == 1 {
							worstE1 = max(worstE1, d)
						}
					}
				}
			}
		}
	}
	t.Logf("%d EEPROMs: max |dTo| %.4f degC (emissivity 1: %.4f), max |dTa| %.2g degC, max |dVdd| %.2g V", len(seen), worst, worstE1, worstTa, worstVdd)
	if worstE1 > 0.06 {
		t.Errorf("emissivity 1: max |dTo| %.4f > 0.06", worstE1)
	}
	if worstTa > 0.001 {
		t.Errorf("ta round trip off by %.3g degC", worstTa)
	}
	if worstVdd > 0.002 {
		t.Errorf("vdd round trip off by %.3g V", worstVdd)
	}
}

func TestSynthesizeGentleScene(t *testing.T) {
	v := loadVectors(t)[0]
	p, _ := ExtractParameters(v.EEPROM)
	var scene, got [Pixels]float64
	for i := range scene {
		scene[i] = 22 + float64(i%7)*0.1
	}
	scene[300] = math.NaN()
	var ram RawFrame
	_, ta := p.Synthesize(0, 0x1981, 30, 3.3, 0.95, math.NaN(), &scene, &ram)
	p.Compute(&ram, 0.95, math.NaN(), &got)
	worst := 0.0
	for k := range Pixels {
		if !InSubpage(Chess, 0, k) {
			continue
		}
		want := scene[k]
		if math.IsNaN(want) {
			want = ta
		}
		worst = max(worst, math.Abs(got[k]-want))
	}
	if worst > 0.03 {
		t.Errorf("gentle scene max |dTo| %.4f", worst)
	}
	t.Logf("gentle scene max |dTo| %.4f", worst)
}

func BenchmarkSynthesize(b *testing.B) {
	v := loadVectors(b)[0]
	p, _ := ExtractParameters(v.EEPROM)
	var scene [Pixels]float64
	for i := range scene {
		scene[i] = 20 + float64(i%100)
	}
	var ram RawFrame
	b.ReportAllocs()
	for b.Loop() {
		p.Synthesize(1, 0x1981, 30, 3.3, 0.95, math.NaN(), &scene, &ram)
	}
}

// halfCount is how far pixel k's decoded temperature moves for half a count
// of its raw word.
func halfCount(p *Params, ram *RawFrame, em, tr float64, k int) float64 {
	var a, b [Pixels]float64
	r := *ram
	p.Compute(&r, em, tr, &a)
	r[k] = uint16(int16(r[k]) + 1)
	p.Compute(&r, em, tr, &b)
	return math.Abs(b[k]-a[k]) / 2
}
