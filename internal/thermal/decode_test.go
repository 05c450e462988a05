package thermal

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSafeFileName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"case_01-a.b", "case_01-a.b"},
		{"../../../escaped", "_/_/_/escaped"},
		{"/tmp/abs", "_tmp_abs"},
		{"a\x00b\nc", "a_b_c"},
		{"..", "_"},
		{"...x", "_.x"},
		{".hidden", "hidden"},
		{"", "case"},
		{strings.Repeat("x", 100), strings.Repeat("x", maxCaseName)},
	} {
		got := safeFileName(tc.in)
		want := strings.ReplaceAll(tc.want, "/", "_")
		if got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

// TestDecode: one line per input, a bad input reported on its own line
// naming the file, and ErrFailed.
func TestDecode(t *testing.T) {
	files, err := filepath.Glob("../../sensors/mlx90640/testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	var out, errb bytes.Buffer
	o := &DecodeOpts{Stdin: strings.NewReader("{}"), Stdout: &out, Stderr: &errb}
	err = Decode([]string{files[0], "-"}, o)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	var res struct {
		Case string
		To   []*float64
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Case != strings.TrimSuffix(filepath.Base(files[0]), ".json") || len(res.To) != 768 {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if got := errb.String(); got != "stirling: thermal decode: -: eeprom: missing (want 832 words)\n" {
		t.Fatalf("stderr %q", got)
	}
}
