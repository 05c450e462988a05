package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// aliasBomb is a "billion laughs" document: levels anchors, each a list
// of width aliases of the previous one, under key (then the rest).
func aliasBomb(key string, levels, width int, rest string) []byte {
	var b strings.Builder
	b.WriteString(key + ":\n")
	b.WriteString("  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	fmt.Fprintf(&b, "  all: *l%d\n", levels-1)
	b.WriteString(rest)
	return []byte(b.String())
}

// errorBomb is the other shape: one anchored mapping of keys unknown
// keys, and a list of aliases to it where each element is decoded, so
// every alias repeats every "unknown key" error (keys x aliases errors;
// before the bound a 59 KB file made millions of them, 2.4 GB).
func errorBomb(keys, aliases int) []byte {
	var b strings.Builder
	b.WriteString("sensors:\n  sim:\n    faults:\n      - &f {")
	for i := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: 1", i)
	}
	b.WriteString("}\n")
	b.WriteString(strings.Repeat("      - *f\n", aliases))
	b.WriteString("publishers: [{type: stdout}]\n")
	return []byte(b.String())
}

// measure runs f and returns its wall time and the bytes it allocated.
func measure(f func()) (time.Duration, uint64) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&b)
	return d, b.TotalAlloc - a.TotalAlloc
}

// TestAliasBomb: a 59 KB alias bomb in a config or ROI file fails at once,
// with the file and line, in bounded time and memory.
func TestAliasBomb(t *testing.T) {
	bomb := aliasBomb("sensors", 10, 1300, "publishers: [{type: stdout}]\n")
	if n := len(bomb); n < 55_000 || n > 65_000 {
		t.Fatalf("bomb is %d bytes; want about 59 KB", n)
	}
	roiBomb := aliasBomb("hot_cylinder", 10, 1300, "")
	errBomb := errorBomb(1700, 3800)
	if n := len(errBomb); n < 55_000 || n > 65_000 {
		t.Fatalf("error bomb is %d bytes; want about 59 KB", n)
	}
	tests := []struct {
		name  string
		in    []byte
		parse func([]byte) (*Config, error)
		want  string
	}{
		{"config", bomb, func(b []byte) (*Config, error) { return Parse("bomb.yaml", b) }, "bomb.yaml:3: more than 64 aliases"},
		{"config, error amplification", errBomb, func(b []byte) (*Config, error) { return Parse("bomb.yaml", b) }, "bomb.yaml:5: expands to more than 100000 nodes"},
		{"rois", roiBomb, func(b []byte) (*Config, error) { _, err := ParseROIs("bomb.yaml", b); return nil, err }, "bomb.yaml:3: more than 64 aliases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			d, alloc := measure(func() { _, err = tc.parse(tc.in) })
			t.Logf("%d-byte bomb: %v, %d KiB allocated, err %v", len(tc.in), d, alloc>>10, err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err %v does not match ErrInvalid", err)
			}
			if d > time.Second || alloc > 64<<20 {
				t.Errorf("took %v and %d MiB; want well under 1 s and 64 MiB", d, alloc>>20)
			}
		})
	}
}

func TestYAMLBounds(t *testing.T) {
	big := "publishers: [{type: stdout}]\n" + strings.Repeat("# padding comment line\n", 50_000)
	tests := []struct {
		name, doc, want string
	}{
		{"second document", "publishers: [{type: stdout}]\n---\npublishers: [{type: file}]\n", "x.yaml:2: a second YAML document"},
		{"empty second document", "publishers: [{type: stdout}]\n---\n", "x.yaml:2: a second YAML document"},
		{"leading document marker", "---\npublishers: [{type: stdout}]\n", ""},
		{"too large", big, "x.yaml: larger than 1048576 bytes"},
		{"few aliases are fine", "sensors:\n  sim:\n    faults:\n      - &f {kind: missed_marks, at: 1s, for: 1s}\n      - *f\npublishers: [{type: stdout}]\n", ""},
		{"too many aliases", "sensors:\n  sim:\n    faults:\n      - &f {kind: missed_marks, at: 1s, for: 1s}\n" + strings.Repeat("      - *f\n", 65) + "publishers: [{type: stdout}]\n",
			"x.yaml:69: more than 64 aliases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err = %v; want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
	// Files: the cap applies before reading the whole file.
	dir := t.TempDir()
	p := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p+": larger than") {
		t.Errorf("Load(big) = %v; want larger than", err)
	}
	r := filepath.Join(dir, "rois.yaml")
	if err := os.WriteFile(r, []byte("hot_cylinder: {x: 4, y: 6, w: 8, h: 8}\ncold_cylinder: {x: 20, y: 6, w: 8, h: 8}\nflame: {x: 5, y: 16, w: 6, h: 6}\n---\nflame: {x: 1, y: 1, w: 1, h: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadROIs(r); err == nil || !strings.Contains(err.Error(), r+":4: a second YAML document") {
		t.Errorf("LoadROIs(two documents) = %v; want a second YAML document", err)
	}
}
