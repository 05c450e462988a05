package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestThermalDecodePNGNameFromHostileID: the PNG name derived from a
// dump's id stays a plain file name next to --png: no path separator,
// no "..", no control character, bounded length.
func TestThermalDecodePNGNameFromHostileID(t *testing.T) {
	files := vectorFiles(t)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../../../escaped", "/tmp/abs", "a\x00b\nc\x1b[31m", "..", strings.Repeat("x", 5000)} {
		t.Run(strings.ToValidUTF8(id[:min(len(id), 20)], "?"), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "a", "b")
			// A directory an attacker may have made so that heat_.. resolves.
			if err := os.MkdirAll(filepath.Join(out, "heat_.."), 0o755); err != nil {
				t.Fatal(err)
			}
			idJSON, _ := json.Marshal(id)
			obj["id"] = idJSON
			in, _ := json.Marshal(obj)
			if _, stderr, err := runThermal(t, string(in), "decode", "--png", filepath.Join(out, "heat.png"), "-", files[1]); err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			var pngs []string
			err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
				if err == nil && strings.HasSuffix(p, ".png") {
					pngs = append(pngs, p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(pngs) != 2 {
				t.Fatalf("PNGs written: %q; want 2, both in %s", pngs, out)
			}
			for _, p := range pngs {
				name := filepath.Base(p)
				if filepath.Dir(p) != out || strings.Contains(name, "..") || len(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Errorf("PNG %q: want a plain, short name in %s", p, out)
				}
			}
		})
	}
}
