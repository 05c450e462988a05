// Package thermal implements `stirling thermal decode`: it reads MLX90640
// dumps in the JSON format of the Melexis test vectors (EEPROM, frame,
// emissivity), computes the temperatures with the driver's calibration
// (sensors/mlx90640), and writes one JSON line per dump and, optionally, a
// heat-map PNG.
//
// It is a tool's implementation, not a driver API: the driver stays free of
// file formats, and the package is internal so its output may change with
// the command's.
package thermal

import (
	"bytes"
	"encoding/json"
	"errors"
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

// ErrFailed means at least one input could not be decoded; each was
// reported on DecodeOpts.Stderr.
var ErrFailed = errors.New("thermal: inputs failed to decode")

// DecodeOpts are the options of Decode.
type DecodeOpts struct {
	// Emissivity is used for an input without one; 0 means none (such an
	// input is an error).
	Emissivity float64
	// CorrectBadPixels interpolates the EEPROM's broken and outlier pixels
	// from their neighbours, as Melexis does.
	CorrectBadPixels bool
	// PNG, when set, is the heat-map file; with several inputs, each gets
	// "_<case>" inserted before the extension.
	PNG string
	// Stdin is read for the input "-"; Stdout receives the JSON lines and
	// Stderr the warnings and errors.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// DefaultOpts reads standard input and writes to standard output and error.
func DefaultOpts() *DecodeOpts {
	return &DecodeOpts{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// Decode decodes each file ("-" is one object from Stdin) and prints one
// JSON line per input to Stdout. A bad input prints one error line naming
// the file and the field to Stderr; the other inputs are still decoded, and
// Decode returns an error wrapping ErrFailed.
func Decode(files []string, o *DecodeOpts) error {
	failed := 0
	for _, f := range files {
		if err := decodeOne(o, f, len(files) > 1); err != nil {
			fmt.Fprintf(o.Stderr, "stirling: thermal decode: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrFailed, failed, len(files))
	}
	return nil
}

// decodeResult is one output line.
type decodeResult struct {
	Case string     `json:"case"`
	Vdd  float64    `json:"vdd"`
	Ta   float64    `json:"ta"`
	To   []*float64 `json:"to"`
}

func decodeOne(o *DecodeOpts, path string, many bool) error {
	var data []byte
	var err error
	name := strings.TrimSuffix(filepath.Base(path), ".json")
	if path == "-" {
		name = "stdin"
		data, err = io.ReadAll(o.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	in, err := parseDump(data, o.Emissivity)
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
		fmt.Fprintf(o.Stderr, "stirling: thermal decode: %s: warning: eeprom: %v\n", path, err)
	}
	if err := in.frame.Validate(); err != nil {
		fmt.Fprintf(o.Stderr, "stirling: thermal decode: %s: warning: frame: %v (decoded anyway)\n", path, err)
	}
	var to [mlx90640.Pixels]float64
	for i := range to {
		to[i] = math.NaN()
	}
	vdd, ta := p.Compute(&in.frame, in.emissivity, in.tr, &to)
	if o.CorrectBadPixels {
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
	if _, err := fmt.Fprintf(o.Stdout, "%s\n", line); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if o.PNG == "" {
		return nil
	}
	out := o.PNG
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
