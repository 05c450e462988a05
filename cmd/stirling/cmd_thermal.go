package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stirling-iot/stirling/internal/heatmap"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
)

const thermalUsage = `MLX90640 tools.

Subcommands:
  decode   decode EEPROM + frame dumps (JSON) to Vdd, Ta and per-pixel temperatures

Run "stirling thermal decode --help" for its flags and the input format.
`

func cmdThermal(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "Usage: stirling thermal <subcommand> [flags] [args]\n\n%s", thermalUsage)
		return errUsageShown
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(e.stdout, "Usage: stirling thermal <subcommand> [flags] [args]\n\n%s", thermalUsage)
		return flag.ErrHelp
	case "decode":
		return cmdThermalDecode(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "stirling thermal: unknown subcommand %q\n\n%s", args[0], thermalUsage)
	return errUsageShown
}

const decodeDescription = `Decode MLX90640 dumps with the Melexis calibration algorithm and print one
JSON line per input file:

  {"case": "<file name without .json>", "vdd": V, "ta": degC, "to": [768 values]}

"to" holds the object temperature of every pixel of the frame's subpage in
deg C (pixel = row*32 + column) and null for the 384 pixels of the other
subpage, which the frame does not measure.

Input: a JSON object with
  "eeprom"      832 words, the EEPROM 0x2400..0x273F (MLX90640_DumpEE)
  "frame"       834 words: pixel RAM 0x0400..0x06FF, aux RAM 0x0700..0x073F,
                the control register 0x800D and the subpage number (0 or 1)
  "emissivity"  the scene's emissivity, 0 < e <= 1 (or give --emissivity)
  "tr"          optional reflected temperature in deg C; default Ta - 8
Words are JSON integers 0..65535. The MLX90640 test vectors have this format;
other keys are ignored. "-" reads one object from standard input (its case
name is its "id" key, or "stdin").

With several inputs and --png, one PNG is written per input, named by
inserting "_<case>" before the extension of FILE (heat.png ->
heat_<case>.png), always in FILE's directory: in the name, <case> keeps only
letters, digits, ".", "_" and "-" (no ".."), at most 64 bytes. Pixels of
the other subpage are drawn grey.

Bad input (a wrong word count, a non-numeric or out-of-range value, an
EEPROM that is not a calibration) prints one error line naming the file and
the field; the other files are still decoded and the exit status is 1.

Example:
  stirling thermal decode --png heat.png dump.json`

func cmdThermalDecode(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "thermal decode", "stirling thermal decode [--png FILE] [--correct-bad-pixels] [--emissivity E] CASE.json... (- = stdin)", decodeDescription)
	pngPath := fs.String("png", "", "write a heat-map `FILE` with a colour scale (one per input: FILE with _<case> inserted)")
	correct := fs.Bool("correct-bad-pixels", false, "interpolate the EEPROM's broken and outlier pixels from their neighbours, as Melexis does")
	emis := fs.Float64("emissivity", 0, "emissivity to use when an input has none (0 < e <= 1)")
	files, err := parseInterspersed(e, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(e.stderr, "stirling thermal decode: no input files (give CASE.json... or - for stdin)")
		return &exitError{code: 2, err: errUsageShown}
	}
	if *emis != 0 && !(*emis > 0 && *emis <= 1) {
		fmt.Fprintf(e.stderr, "stirling thermal decode: --emissivity %g: want 0 < e <= 1\n", *emis)
		return &exitError{code: 2, err: errUsageShown}
	}
	failed := 0
	for _, f := range files {
		if err := decodeOne(e, f, *emis, *correct, *pngPath, len(files) > 1); err != nil {
			fmt.Fprintf(e.stderr, "stirling: thermal decode: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: errUsageShown}
	}
	return nil
}

// parseInterspersed parses flags that may come after positional arguments.
func parseInterspersed(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(e, fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// decodeResult is one output line.
type decodeResult struct {
	Case string     `json:"case"`
	Vdd  float64    `json:"vdd"`
	Ta   float64    `json:"ta"`
	To   []*float64 `json:"to"`
}

func decodeOne(e *env, path string, defEmis float64, correct bool, pngPath string, many bool) error {
	var data []byte
	var err error
	name := strings.TrimSuffix(filepath.Base(path), ".json")
	if path == "-" {
		name = "stdin"
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	in, err := parseDump(data, defEmis)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if path == "-" && in.id != "" {
		name = in.id
	}
	p, err := mlx90640.ExtractParameters(in.eeprom)
	if p == nil {
		return fmt.Errorf("%s: eeprom: %w", path, err)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "stirling: thermal decode: %s: warning: eeprom: %v\n", path, err)
	}
	if err := in.frame.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "stirling: thermal decode: %s: warning: frame: %v (decoded anyway)\n", path, err)
	}
	var to [mlx90640.Pixels]float64
	for i := range to {
		to[i] = math.NaN()
	}
	vdd, ta := p.Compute(&in.frame, in.emissivity, in.tr, &to)
	if correct {
		p.CorrectBadPixels(&to, in.frame.Pattern())
	}
	res := decodeResult{Case: name, Vdd: vdd, Ta: ta, To: make([]*float64, len(to))}
	sp, pt := in.frame.Subpage(), in.frame.Pattern()
	for k := range to {
		if !mlx90640.InSubpage(pt, sp, k) {
			to[k] = math.NaN() // not measured in this frame
			continue
		}
		if v := to[k]; !math.IsNaN(v) && !math.IsInf(v, 0) {
			res.To[k] = &v
		}
	}
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := fmt.Fprintf(e.stdout, "%s\n", line); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if pngPath == "" {
		return nil
	}
	out := pngPath
	if many {
		ext := filepath.Ext(out)
		out = strings.TrimSuffix(out, ext) + "_" + safeFileName(name) + ext
	}
	var buf bytes.Buffer
	if err := heatmap.PNG(&buf, to[:], heatmap.Opts{Min: math.NaN(), Max: math.NaN()}); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%s: png: %w", path, err)
	}
	return nil
}

// dump is a parsed input file.
type dump struct {
	id         string
	eeprom     []uint16
	frame      mlx90640.RawFrame
	emissivity float64
	tr         float64 // NaN = Ta - 8
}

// parseDump validates every field it uses and names the field in errors.
func parseDump(data []byte, defEmis float64) (*dump, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object")
	}
	d := &dump{tr: math.NaN()}
	if raw, ok := obj["id"]; ok {
		_ = json.Unmarshal(raw, &d.id) // informational only
	}
	var err error
	if d.eeprom, err = parseWords(obj, "eeprom", mlx90640.EEPROMSize); err != nil {
		return nil, err
	}
	frame, err := parseWords(obj, "frame", mlx90640.FrameSize)
	if err != nil {
		return nil, err
	}
	copy(d.frame[:], frame)
	if sp := d.frame[mlx90640.IdxSubpage]; sp > 1 {
		return nil, fmt.Errorf("frame[%d]: subpage number %d, want 0 or 1", mlx90640.IdxSubpage, sp)
	}
	d.emissivity = defEmis
	if raw, ok := obj["emissivity"]; ok && string(raw) != "null" {
		if d.emissivity, err = parseNumber(raw); err != nil {
			return nil, fmt.Errorf("emissivity: %w", err)
		}
	}
	if d.emissivity == 0 && defEmis == 0 {
		if _, ok := obj["emissivity"]; !ok {
			return nil, errors.New("emissivity: missing (add it to the file or pass --emissivity)")
		}
	}
	if !(d.emissivity > 0 && d.emissivity <= 1) {
		return nil, fmt.Errorf("emissivity: %g, want 0 < e <= 1", d.emissivity)
	}
	if raw, ok := obj["tr"]; ok && string(raw) != "null" {
		if d.tr, err = parseNumber(raw); err != nil {
			return nil, fmt.Errorf("tr: %w", err)
		}
		if d.tr < -273.15 || d.tr > 1000 {
			return nil, fmt.Errorf("tr: %g deg C is not a plausible reflected temperature", d.tr)
		}
	}
	return d, nil
}

func parseWords(obj map[string]json.RawMessage, key string, n int) ([]uint16, error) {
	raw, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("%s: missing (want %d words)", key, n)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%s: not an array of %d words", key, n)
	}
	if len(items) != n {
		return nil, fmt.Errorf("%s: %d words, want %d", key, len(items), n)
	}
	out := make([]uint16, n)
	for i, it := range items {
		v, err := strconv.ParseUint(string(it), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %s is not an integer 0..65535", key, i, clip(string(it)))
		}
		out[i] = uint16(v)
	}
	return out, nil
}

func parseNumber(raw json.RawMessage) (float64, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s is not a number", clip(string(raw)))
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// maxCaseName bounds the case name put into a PNG file name.
const maxCaseName = 64

// safeFileName turns a case name (from a dump's id or a file name) into
// one plain file-name component: letters, digits, '-', '_' and '.' only
// (anything else, path separators and control characters included,
// becomes '_'), no "..", no leading dot, at most maxCaseName bytes, never
// empty.
func safeFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	s := string(b)
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", "_")
	}
	s = strings.TrimLeft(s, ".")
	if len(s) > maxCaseName {
		s = s[:maxCaseName]
	}
	if s == "" {
		s = "case"
	}
	return s
}
