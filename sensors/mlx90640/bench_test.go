package mlx90640

import (
	"math"
	"testing"
)

func benchVector(b *testing.B) vector {
	for _, v := range loadVectors(b) {
		if v.name == "A_f0_chess18_sp0_e095_trTa8" {
			return v
		}
	}
	b.Fatal("vector A_f0_chess18_sp0_e095_trTa8 missing")
	return vector{}
}

func BenchmarkExtractParameters(b *testing.B) {
	v := benchVector(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ExtractParameters(v.EEPROM); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubpageTo is one subpage's Vdd, Ta and To (384 pixels).
func BenchmarkSubpageTo(b *testing.B) {
	v := benchVector(b)
	p, err := ExtractParameters(v.EEPROM)
	if err != nil {
		b.Fatal(err)
	}
	r := v.raw()
	var to [Pixels]float64
	b.ReportAllocs()
	for b.Loop() {
		p.Compute(r, 0.95, math.NaN(), &to)
	}
}
