package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vectorDir = "../../sensors/mlx90640/testdata"

type thermalExpected struct {
	Vdd         float64    `json:"vdd"`
	Ta          float64    `json:"ta"`
	To          []*float64 `json:"to"`
	ToCorrected []*float64 `json:"to_bad_pixels_corrected"`
}

func vectorFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s: %v", vectorDir, err)
	}
	return files
}

func runThermal(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"thermal"}, args...), &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), err
}

// TestThermalDecodeVectors decodes every vector in process and checks the
// tolerances of testdata/README.md, with and without bad-pixel correction.
func TestThermalDecodeVectors(t *testing.T) {
	files := vectorFiles(t)
	for _, correct := range []bool{false, true} {
		args := []string{"decode"}
		if correct {
			args = append(args, "--correct-bad-pixels")
		}
		out, stderr, err := runThermal(t, "", append(args, files...)...)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, stderr)
		}
		got := map[string]map[string]json.RawMessage{}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("output line is not JSON: %v", err)
			}
			var name string
			_ = json.Unmarshal(line["case"], &name)
			got[name] = line
		}
		if len(got) != len(files) {
			t.Fatalf("%d output lines for %d files", len(got), len(files))
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			t.Run(name+map[bool]string{true: "/corrected", false: ""}[correct], func(t *testing.T) {
				var v struct {
					Expected thermalExpected `json:"expected"`
					BPC      bool            `json:"bad_pixel_correction"`
				}
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatal(err)
				}
				line, ok := got[name]
				if !ok {
					t.Fatal("no output line")
				}
				var res struct {
					Vdd, Ta float64
					To      []*float64
				}
				if err := json.Unmarshal(mustJSON(t, line), &res); err != nil {
					t.Fatal(err)
				}
				if math.Abs(res.Vdd-v.Expected.Vdd) > 1e-5 || math.Abs(res.Ta-v.Expected.Ta) > 1e-3 {
					t.Fatalf("vdd %v ta %v, want %v %v", res.Vdd, res.Ta, v.Expected.Vdd, v.Expected.Ta)
				}
				want := v.Expected.To
				if correct && v.BPC {
					want = v.Expected.ToCorrected
				}
				if len(res.To) != len(want) {
					t.Fatalf("%d values, want %d", len(res.To), len(want))
				}
				worst := 0.0
				for i, e := range want {
					if e == nil {
						if res.To[i] != nil {
							t.Fatalf("pixel %d of the other subpage is not null", i)
						}
						continue
					}
					if res.To[i] == nil {
						t.Fatalf("pixel %d is null", i)
					}
					worst = max(worst, math.Abs(*res.To[i]-*e))
				}
				if worst > 0.01 {
					t.Fatalf("max |dTo| %.3g > 0.01", worst)
				}
			})
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badInput rewrites one field of a vector.
func badInput(t *testing.T, mutate func(map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(vectorFiles(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	return string(mustJSON(t, m))
}

func TestThermalDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		input   func(map[string]any)
		args    []string
		wantErr string // in stderr
	}{
		{"short eeprom", func(m map[string]any) { m["eeprom"] = m["eeprom"].([]any)[:831] }, nil, "eeprom: 831 words, want 832"},
		{"non-numeric frame word", func(m map[string]any) { m["frame"].([]any)[12] = "abc" }, nil, `frame[12]: "abc" is not an integer`},
		{"negative word", func(m map[string]any) { m["eeprom"].([]any)[3] = -1 }, nil, "eeprom[3]: -1 is not an integer"},
		{"fractional word", func(m map[string]any) { m["frame"].([]any)[0] = 1.5 }, nil, "frame[0]: 1.5 is not an integer"},
		{"missing frame", func(m map[string]any) { delete(m, "frame") }, nil, "frame: missing"},
		{"frame not an array", func(m map[string]any) { m["frame"] = 7 }, nil, "frame: not an array"},
		{"subpage 2", func(m map[string]any) { m["frame"].([]any)[833] = 2 }, nil, "frame[833]: subpage number 2"},
		{"missing emissivity", func(m map[string]any) { delete(m, "emissivity") }, nil, "emissivity: missing"},
		{"emissivity out of range", func(m map[string]any) { m["emissivity"] = 1.5 }, nil, "emissivity: 1.5"},
		{"non-numeric tr", func(m map[string]any) { m["tr"] = "warm" }, nil, `tr: "warm" is not a number`},
		{"blank eeprom", func(m map[string]any) {
			ee := m["eeprom"].([]any)
			for i := range ee {
				ee[i] = 0
			}
		}, nil, "eeprom:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(path, []byte(badInput(t, tc.input)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := runThermal(t, "", append([]string{"decode", path}, tc.args...)...)
			if err == nil || exitCode(err) == 0 {
				t.Fatalf("no error; stdout %q", out)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], path) || !strings.Contains(lines[0], tc.wantErr) {
				t.Fatalf("stderr %q, want one line naming %s and %q", stderr, path, tc.wantErr)
			}
			if out != "" {
				t.Fatalf("stdout %q for bad input", out)
			}
		})
	}
	t.Run("missing file, other files still decoded", func(t *testing.T) {
		out, stderr, err := runThermal(t, "", "decode", filepath.Join(dir, "nope.json"), vectorFiles(t)[0])
		if err == nil || !strings.Contains(stderr, "nope.json") || strings.Count(out, "\n") != 1 {
			t.Fatalf("err %v stderr %q stdout lines %d", err, stderr, strings.Count(out, "\n"))
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		_, stderr, err := runThermal(t, "{", "decode", "-")
		if err == nil || !strings.Contains(stderr, "-: not a JSON object") {
			t.Fatalf("err %v stderr %q", err, stderr)
		}
	})
	t.Run("no files", func(t *testing.T) {
		_, _, err := runThermal(t, "", "decode")
		if exitCode(err) != 2 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unknown subcommand", func(t *testing.T) {
		_, stderr, err := runThermal(t, "", "encode")
		if err == nil || !strings.Contains(stderr, `unknown subcommand "encode"`) {
			t.Fatalf("err %v stderr %q", err, stderr)
		}
	})
}

func TestThermalDecodeStdinAndPNG(t *testing.T) {
	files := vectorFiles(t)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "heat.png")
	out, stderr, err := runThermal(t, string(b), "decode", "-", "--png", pngPath)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	var res struct{ Case string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Case != strings.TrimSuffix(filepath.Base(files[0]), ".json") {
		t.Fatalf("case %q (%v); stdin cases are named by their id", res.Case, err)
	}
	checkPNG(t, pngPath)

	many := filepath.Join(dir, "many.png")
	if _, stderr, err := runThermal(t, "", append([]string{"decode", "--png", many}, files[:2]...)...); err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	for _, f := range files[:2] {
		checkPNG(t, filepath.Join(dir, "many_"+strings.TrimSuffix(filepath.Base(f), ".json")+".png"))
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 32*12 || b.Dy() != 24*12 {
		t.Fatalf("%s: size %v", path, b)
	}
}

func TestThermalHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"decode", "--help"}} {
		out, _, err := runThermal(t, "", args...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: err %v", args, err)
		}
		if !strings.Contains(out, "decode") || !strings.Contains(out, "Usage: stirling thermal") {
			t.Fatalf("%v: help %q", args, out)
		}
	}
	out, _, _ := runThermal(t, "", "decode", "--help")
	for _, s := range []string{"--png", "--correct-bad-pixels", `"eeprom"`, `"tr"`, "null"} {
		if !strings.Contains(out, s) {
			t.Errorf("decode help lacks %q", s)
		}
	}
}
