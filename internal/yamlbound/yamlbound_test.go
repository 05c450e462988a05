package yamlbound

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func bomb(levels, width int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), width), ", "))
	}
	return b.String()
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		line     int
	}{
		{"plain", "a: 1\nb: [x, y]\n", nil, 0},
		{"empty", "", nil, 0},
		{"comment only", "# nothing\n", nil, 0},
		{"a few aliases", "a: &a {x: 1}\nb: *a\nc: *a\n", nil, 0},
		{"64 aliases", "a: &a 1\nb: [" + strings.TrimSuffix(strings.Repeat("*a, ", 64), ", ") + "]\n", nil, 0},
		{"65 aliases", "a: &a 1\nb: [" + strings.TrimSuffix(strings.Repeat("*a, ", 65), ", ") + "]\n", ErrAliases, 2},
		{"small bomb", bomb(6, 9), ErrAliases, 0},
		{"59 KB bomb", bomb(10, 1300), ErrAliases, 0},
		{"second document", "a: 1\n---\nb: 2\n", ErrDocuments, 2},
		{"syntax", "a: [\n", ErrSyntax, 0},
		{"syntax in second document", "a: 1\n---\nb: [\n", ErrSyntax, 0},
		{"too large", strings.Repeat("#\n", MaxBytes/2+1), ErrTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("f.yaml", []byte(tc.in))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Errorf("err %v: want an *Error naming f.yaml", err)
			}
			if tc.line != 0 && e.Line != tc.line {
				t.Errorf("line %d; want %d (%v)", e.Line, tc.line, err)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.yaml")
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(ok, make([]byte, MaxBytes), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, MaxBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(ok); err != nil || len(b) != MaxBytes {
		t.Errorf("ReadFile(1 MiB) = %d bytes, %v", len(b), err)
	}
	if _, err := ReadFile(big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), big) {
		t.Errorf("ReadFile(1 MiB + 1) = %v; want ErrTooLarge naming the file", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v; want ErrNotExist", err)
	}
}

func BenchmarkDecodeBomb(b *testing.B) {
	in := []byte(bomb(10, 1300))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode("f.yaml", in); !errors.Is(err, ErrAliases) {
			b.Fatal(err)
		}
	}
}
