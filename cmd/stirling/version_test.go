package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stirling-iot/stirling/internal/testsrv"
)

// repoVersion is the VERSION file at the repository root.
func repoVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("VERSION %q is not X.Y.Z", v)
	}
	return v
}

// TestOneVersion: an unstamped binary (go build, go test) reports the
// VERSION file's version, and `stirling recipe` without --version renders
// that version.
func TestOneVersion(t *testing.T) {
	want := repoVersion(t)
	code, out, stderr := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "stirling "+want+" ") {
		t.Errorf("stirling version = %q (exit %d, %s); want it to start with stirling %s", out, code, stderr, want)
	}
	code, out, stderr = runCmd(t, "recipe", "--artifacts", "s3://my-bucket/gg")
	if code != 0 {
		t.Fatalf("stirling recipe without --version: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"ComponentVersion: '" + want + "'", "s3://my-bucket/gg/com.stirling.Agent/" + want + "/stirling-aarch64"} {
		if !strings.Contains(out, w) {
			t.Errorf("recipe lacks %q", w)
		}
	}
}

// TestReadmeDeployLine: the README deploys the version `make package`
// wrote, not whatever git describe says.
func TestReadmeDeployLine(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `--merge "com.stirling.Agent=$(cat dist/greengrass/VERSION)"`) {
		t.Error(`README.md: the deploy line must read --merge "com.stirling.Agent=$(cat dist/greengrass/VERSION)"`)
	}
	if strings.Contains(string(b), "git describe") {
		t.Error("README.md still derives a version from git describe")
	}
}

// TestVersionScript: scripts/version.sh prints the vX.Y.Z tag on HEAD, else
// the VERSION file, and refuses a VERSION that is not X.Y.Z. The Makefile
// takes VERSION from it (COMPONENT_VERSION overrides both).
func TestVersionScript(t *testing.T) {
	for _, tool := range []string{"git", "make", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			testsrv.RequireInCI(t, "%s not installed", tool)
		}
	}
	src, err := os.ReadFile("../../scripts/version.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // a repository of its own: VERSION and the script
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := writeFile(t, filepath.Join(dir, "scripts", "version.sh"), string(src))
	sh := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := sh(args...)
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		return out
	}
	writeFile(t, filepath.Join(dir, "VERSION"), "1.4.2\n")
	must("git", "init", "-q")
	must("git", "add", "VERSION")
	must("git", "commit", "-qm", "one")
	if got := must("bash", script); got != "1.4.2" {
		t.Errorf("untagged: %q; want the VERSION file's 1.4.2", got)
	}
	must("git", "tag", "v1.5.0")
	if got := must("bash", script); got != "1.5.0" {
		t.Errorf("tagged v1.5.0: %q; want 1.5.0", got)
	}
	must("git", "commit", "-q", "--allow-empty", "-m", "two")
	if got := must("bash", script); got != "1.4.2" {
		t.Errorf("after the tag: %q; want the VERSION file's 1.4.2", got)
	}
	writeFile(t, filepath.Join(dir, "VERSION"), "1.4\n")
	if out, err := sh("bash", script); err == nil || !strings.Contains(out, "not X.Y.Z") {
		t.Errorf("VERSION 1.4: %q, %v; want an error saying not X.Y.Z", out, err)
	}

	// The Makefile's version, in the real repository.
	mk := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-s", "-C", "../..", "version"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make version %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	repo := repoVersion(t)
	if tag, err := exec.Command("git", "-C", "../..", "describe", "--tags", "--exact-match", "--match", "v[0-9]*").Output(); err == nil {
		repo = strings.TrimPrefix(strings.TrimSpace(string(tag)), "v")
	}
	if got := mk(); got != repo {
		t.Errorf("make version = %q; want %q", got, repo)
	}
	if got := mk("COMPONENT_VERSION=0.0.1"); got != "0.0.1" {
		t.Errorf("make version COMPONENT_VERSION=0.0.1 = %q; want 0.0.1 (binaries and recipe agree)", got)
	}
}

// TestGDKVersion: gdk component build packages the same version.
func TestGDKVersion(t *testing.T) {
	b, err := os.ReadFile("../../gdk-config.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := repoVersion(t); !strings.Contains(string(b), `"version": "`+want+`"`) {
		t.Errorf("gdk-config.json does not say \"version\": %q (the VERSION file)", want)
	}
}
