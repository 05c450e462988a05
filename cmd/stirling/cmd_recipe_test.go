package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecipeCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("RecipeFormatVersion: '2020-01-25'\nComponentName: x.Y\nComponentVersion: '1.0.0'\nComponentPublisher: p\n"+
		"Manifests:\n  - Platform: {os: linux, architecture: arm64}\n    Lifecycle: {Run: exec true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string
		stderr   []string
	}{
		{"render", []string{"recipe", "--version", "1.2.3", "--artifacts", "s3://my-bucket/gg"}, 0, []string{
			"ComponentVersion: '1.2.3'",
			"exec {artifacts:path}/stirling-aarch64 run --config greengrass:configuration",
			"URI: s3://my-bucket/gg/com.stirling.Agent/1.2.3/stirling-armv7l",
			"- dt/stirling/{iot:thingName}/#",
		}, nil},
		{"render to file", []string{"recipe", "--version", "1.2.3", "--artifacts", "s3://my-bucket", "-o", good}, 0, nil, nil},
		{"validate good", []string{"recipe", "validate", good}, 0, []string{good + ": ok"}, nil},
		{"validate bad", []string{"recipe", "validate", bad}, 1, nil, []string{
			bad + `:6: Manifests[0].Platform.architecture: "arm64" is not a value the nucleus reports; use aarch64`,
			"1 problem(s)",
		}},
		{"validate artifact dir", []string{"recipe", "validate", "--artifact-dir", dir, good}, 1, nil, []string{"a local deployment would try to download it from S3"}},
		{"no artifacts", []string{"recipe", "--version", "1.2.3"}, 2, nil, []string{"--artifacts s3://bucket/prefix is required"}},
		{"bad version", []string{"recipe", "--version", "1.2", "--artifacts", "s3://my-bucket"}, 1, nil, []string{`version "1.2" is not semver`}},
		{"validate nothing", []string{"recipe", "validate"}, 2, nil, []string{"usage: stirling recipe validate"}},
		{"help", []string{"recipe", "--help"}, 0, []string{"FILE:LINE: PATH: MESSAGE"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
			code := 0
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				code = exitCode(err)
				if code == 1 && stderr.Len() == 0 {
					stderr.WriteString(err.Error())
				}
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d\nstderr: %s", code, err, tt.wantCode, stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
