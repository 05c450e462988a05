package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stirling-iot/stirling/configs"
)

// TestROIsFileAbsolute: a relative rois_file (a Greengrass configuration's
// "rois.yaml") is reported against the working directory, the component's
// work directory; the embedded regions are reported as "".
func TestROIsFileAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"rois.yaml", filepath.Join(wd, "rois.yaml")},
		{"/greengrass/v2/work/com.stirling.Agent/rois.yaml", "/greengrass/v2/work/com.stirling.Agent/rois.yaml"},
		{configs.EmbeddedPrefix + "rois.yaml", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := roisFile(&configs.Config{ROIsPath: tc.in}); got != tc.want {
			t.Errorf("roisFile(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
