package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileSeesAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rois.yaml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}, 10)
	go func() {
		_ = File(ctx, path, 5*time.Millisecond, func() { changes <- struct{}{} }, nil)
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-changes:
		t.Fatal("change reported for the initial state")
	default:
	}
	tmp := filepath.Join(dir, "rois.yaml.tmp")
	if err := os.WriteFile(tmp, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(2 * time.Second):
		t.Fatal("atomic replace with identical content was not noticed")
	}
}
