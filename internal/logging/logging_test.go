package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name, level string
		format      Format
		wantErr     string
		want        string
	}{
		{"text info", "info", Text, "", "level=INFO msg=hello k=v"},
		{"json", "warn", JSON, "", ""},
		{"bad level", "loud", Text, `level "loud"`, ""},
		{"bad format", "info", "xml", `format "xml"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tt.level, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", "k", "v")
			if !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("log line %q does not contain %q", buf.String(), tt.want)
			}
			if tt.level == "warn" && buf.Len() != 0 {
				t.Fatalf("info line written at warn level: %q", buf.String())
			}
		})
	}
}
