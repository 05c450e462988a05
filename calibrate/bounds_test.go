package calibrate

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestParseROIsBounded: the ROI file goes through the same bounded YAML
// decoding as the agent's (internal/yamlbound): an alias bomb, a second
// document and an oversized file are refused with a clear error.
func TestParseROIsBounded(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&bomb, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 1300), ", "))
	}
	bomb.WriteString("hot_cylinder: *l9\n")
	good := string(MarshalROIs(goodROIs()))
	tests := []struct {
		name, in, want string
	}{
		{"alias bomb", bomb.String(), "aliases"},
		{"second document", good + "---\n" + good, "a second YAML document"},
		{"too large", good + strings.Repeat("# pad\n", 200_000), "larger than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a, b runtime.MemStats
			runtime.ReadMemStats(&a)
			start := time.Now()
			_, err := ParseROIs([]byte(tc.in))
			d := time.Since(start)
			runtime.ReadMemStats(&b)
			t.Logf("%d bytes: %v, %d KiB allocated", len(tc.in), d, (b.TotalAlloc-a.TotalAlloc)>>10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
			if d > time.Second {
				t.Errorf("took %v; want well under 1 s", d)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "rois.yaml")
	if err := os.WriteFile(p, []byte(good+"---\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadROIs(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "second YAML document") {
		t.Fatalf("LoadROIs = %v; want the file name and 'second YAML document'", err)
	}
}
