package mlx90640

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// vector is one reference case from testdata (format: testdata/README.md).
type vector struct {
	name               string
	EEPROM             []uint16 `json:"eeprom"`
	Frame              []uint16 `json:"frame"`
	Emissivity         float64  `json:"emissivity"`
	Tr                 *float64 `json:"tr"`
	BadPixelCorrection bool     `json:"bad_pixel_correction"`
	Expected           struct {
		ExtractStatus  int                        `json:"extract_status"`
		Subpage        int                        `json:"subpage"`
		Vdd            float64                    `json:"vdd"`
		Ta             float64                    `json:"ta"`
		Tr             float64                    `json:"tr"`
		To             []*float64                 `json:"to"`
		Image          []*float64                 `json:"image"`
		ToCorrected    []*float64                 `json:"to_bad_pixels_corrected"`
		CorrectionMode *int                       `json:"bad_pixel_correction_mode"`
		Params         map[string]json.RawMessage `json:"params"`
	} `json:"expected"`
	MelexisSpreadsheet []*float64 `json:"melexis_spreadsheet_to"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no vectors in testdata/*.json")
	}
	var vs []vector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		v.name = strings.TrimSuffix(filepath.Base(f), ".json")
		if len(v.EEPROM) != EEPROMSize || len(v.Frame) != FrameSize {
			t.Fatalf("%s: %d EEPROM words and %d frame words", f, len(v.EEPROM), len(v.Frame))
		}
		vs = append(vs, v)
	}
	return vs
}

func (v *vector) raw() *RawFrame {
	var r RawFrame
	copy(r[:], v.Frame)
	return &r
}

// maxDiff compares the non-null expected entries with got and returns the
// largest absolute difference (+Inf for a non-finite got).
func maxDiff(t *testing.T, what string, exp []*float64, got *[Pixels]float64) float64 {
	t.Helper()
	if len(exp) != Pixels {
		t.Fatalf("%s: %d expected entries", what, len(exp))
	}
	worst := 0.0
	for i, e := range exp {
		if e == nil {
			continue
		}
		d := math.Abs(got[i] - *e)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

func TestConformance(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			p, err := ExtractParameters(v.EEPROM)
			if got := Status(err); got != v.Expected.ExtractStatus {
				t.Fatalf("extract status %d (%v), want %d", got, err, v.Expected.ExtractStatus)
			}
			if p == nil {
				t.Fatalf("no params: %v", err)
			}
			if v.Expected.ExtractStatus != 0 && !errors.Is(err, statusError(v.Expected.ExtractStatus).(*StatusError).Err) {
				t.Errorf("error %v does not wrap the sentinel of status %d", err, v.Expected.ExtractStatus)
			}
			checkParams(t, p, v.Expected.Params)

			r := v.raw()
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			tr := math.NaN()
			if v.Tr != nil {
				tr = *v.Tr
			}
			var to [Pixels]float64
			for i := range to {
				to[i] = math.NaN()
			}
			vdd, ta := p.Compute(r, v.Emissivity, tr, &to)
			if d := math.Abs(vdd - v.Expected.Vdd); d > 1e-5 {
				t.Errorf("vdd %.7f, want %.7f", vdd, v.Expected.Vdd)
			}
			if d := math.Abs(ta - v.Expected.Ta); d > 1e-3 {
				t.Errorf("ta %.5f, want %.5f", ta, v.Expected.Ta)
			}
			for i, e := range v.Expected.To {
				in := InSubpage(r.Pattern(), r.Subpage(), i)
				switch {
				case !in && !math.IsNaN(to[i]):
					t.Fatalf("pixel %d is not in subpage %d but was written", i, r.Subpage())
				case in && e == nil:
					t.Logf("pixel %d: the reference has no value, we have %v", i, to[i])
				}
			}
			if v.MelexisSpreadsheet != nil && v.Emissivity == 1 {
				// Melexis' own spreadsheet, 3 decimals, where it matches
				// this frame's computed pixels.
				d := 0.0
				for i, e := range v.Expected.To {
					if s := v.MelexisSpreadsheet[i]; e != nil && s != nil {
						d = max(d, math.Abs(to[i]-*s))
					}
				}
				if d > 0.0015 {
					t.Errorf("Melexis spreadsheet: max |dTo| %.4f", d)
				}
				t.Logf("Melexis spreadsheet max|dTo| %.2g", d)
			}
			dTo := maxDiff(t, "to", v.Expected.To, &to)
			if dTo > 0.01 {
				t.Errorf("to: max |dTo| = %.3g > 0.01", dTo)
			}
			t.Logf("max|dTo| %.2g |dVdd| %.2g |dTa| %.2g", dTo, math.Abs(vdd-v.Expected.Vdd), math.Abs(ta-v.Expected.Ta))

			if v.Expected.Image != nil {
				var img [Pixels]float64
				p.Image(r, &img)
				scale := 0.0
				for _, e := range v.Expected.Image {
					if e != nil {
						scale = max(scale, math.Abs(*e))
					}
				}
				if d := maxDiff(t, "image", v.Expected.Image, &img); d > 1e-5*scale {
					t.Errorf("image: max |d| = %.3g > %.3g", d, 1e-5*scale)
				}
			}
			if v.BadPixelCorrection {
				if v.Expected.CorrectionMode != nil && *v.Expected.CorrectionMode != int(r.Pattern()) {
					t.Fatalf("correction mode %d, pattern %v", *v.Expected.CorrectionMode, r.Pattern())
				}
				c := to
				p.CorrectBadPixels(&c, r.Pattern())
				d := maxDiff(t, "to_bad_pixels_corrected", v.Expected.ToCorrected, &c)
				if d > 0.01 {
					t.Errorf("to_bad_pixels_corrected: max |dTo| = %.3g > 0.01", d)
				}
				t.Logf("corrected max|dTo| %.2g", d)
			}
		})
	}
}

// checkParams compares every expected parameter with the field of the same
// JSON name: integers exactly, floats to a relative 1e-6 (absolute 1e-12 for
// the tiny cpAlpha).
func checkParams(t *testing.T, p *Params, exp map[string]json.RawMessage) {
	t.Helper()
	if len(exp) == 0 {
		t.Fatal("vector has no expected params")
	}
	fields := map[string]reflect.Value{}
	pv := reflect.ValueOf(p).Elem()
	for i := range pv.NumField() {
		if tag := pv.Type().Field(i).Tag.Get("json"); tag != "" && tag != "-" {
			fields[tag] = pv.Field(i)
		}
	}
	for name, raw := range exp {
		f, ok := fields[name]
		if !ok {
			t.Errorf("param %s: no such field", name)
			continue
		}
		var want []float64
		if f.Kind() == reflect.Array {
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Errorf("param %s: %v", name, err)
				continue
			}
		} else {
			var w float64
			if err := json.Unmarshal(raw, &w); err != nil {
				t.Errorf("param %s: %v", name, err)
				continue
			}
			want = []float64{w}
		}
		got := []reflect.Value{f}
		if f.Kind() == reflect.Array {
			got = got[:0]
			for i := range f.Len() {
				got = append(got, f.Index(i))
			}
		}
		if len(got) != len(want) {
			t.Errorf("param %s: %d values, want %d", name, len(got), len(want))
			continue
		}
		bad := 0
		for i, g := range got {
			var ok bool
			switch g.Kind() {
			case reflect.Float32, reflect.Float64:
				tol := 1e-6 * math.Abs(want[i])
				if name == "cpAlpha" {
					tol = 1e-12
				}
				ok = math.Abs(g.Float()-want[i]) <= tol
			case reflect.Int8, reflect.Int16, reflect.Int, reflect.Int32, reflect.Int64:
				ok = float64(g.Int()) == want[i]
			default:
				ok = float64(g.Uint()) == want[i]
			}
			if !ok {
				if bad < 3 {
					t.Errorf("param %s[%d] = %v, want %v", name, i, g, want[i])
				}
				bad++
			}
		}
		if bad > 3 {
			t.Errorf("param %s: %d mismatches in all", name, bad)
		}
	}
}

func TestSampleEEPROM(t *testing.T) {
	p, err := ExtractParameters(SampleEEPROM())
	if err != nil || p.Status != StatusOK {
		t.Fatalf("sample EEPROM: %v", err)
	}
	v := vectorByName(t, "A_f0_chess18_sp0_e095_trTa8")
	for i, w := range SampleEEPROM() {
		if w != v.EEPROM[i] {
			t.Fatalf("word %d differs from vector A", i)
		}
	}
}

// TestExtractRandomEEPROM feeds random and degenerate dumps: no panic, no
// hang, and either usable parameters or an error.
func TestExtractRandomEEPROM(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	dumps := [][]uint16{make([]uint16, EEPROMSize), make([]uint16, 10)}
	ones := make([]uint16, EEPROMSize)
	for i := range ones {
		ones[i] = 0xFFFF
	}
	dumps = append(dumps, ones)
	for range 300 {
		ee := make([]uint16, EEPROMSize)
		for i := range ee {
			ee[i] = uint16(rng.Uint32())
		}
		dumps = append(dumps, ee)
	}
	var r RawFrame
	for i := range r {
		r[i] = uint16(rng.Uint32())
	}
	r[IdxSubpage] = 1
	for i, ee := range dumps {
		p, err := ExtractParameters(ee)
		if p == nil {
			if err == nil || Status(err) != StatusEEPROM || !errors.Is(err, ErrBadEEPROM) {
				t.Fatalf("dump %d: nil params with error %v", i, err)
			}
			continue
		}
		var to [Pixels]float64
		p.Compute(&r, 0.95, math.NaN(), &to)
		p.CorrectBadPixels(&to, Chess)
		p.CorrectBadPixels(&to, Interleaved)
	}
}
