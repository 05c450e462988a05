package calibrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stirling-iot/stirling/internal/testsrv"
	"github.com/stirling-iot/stirling/sensors"
)

func goodROIs() sensors.ROIs {
	return sensors.ROIs{
		HotCylinder:  sensors.ROI{X: 9, Y: 4, W: 7, H: 9},
		ColdCylinder: sensors.ROI{X: 20, Y: 5, W: 7, H: 8},
		Flame:        sensors.ROI{X: 11, Y: 16, W: 4, H: 3},
	}
}

func TestSaveAndBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "rois.yaml")
	o := SaveOpts{Logger: slog.New(slog.DiscardHandler), Owner: "no-such-user-xyz:nogroup"}
	first := goodROIs()
	res, err := Save(path, first, &o)
	if err != nil {
		t.Fatal(err)
	}
	if res != (SaveResult{Path: path}) {
		t.Fatalf("first save: %+v", res)
	}
	if _, err := os.Stat(path + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup after first save: %v", err)
	}
	second := first
	second.Flame.X = 10
	res, err = Save(path, second, &o)
	if err != nil {
		t.Fatal(err)
	}
	if res != (SaveResult{Path: path, Backup: path + ".bak"}) {
		t.Fatalf("second save: %+v", res)
	}
	got, err := LoadROIs(path)
	if err != nil || got != second {
		t.Fatalf("file: %+v, %v; want %+v", got, err, second)
	}
	bak, err := LoadROIs(path + ".bak")
	if err != nil || bak != first {
		t.Fatalf("backup: %+v, %v; want %+v", bak, err, first)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 2 {
		t.Fatalf("left-over files: %v", ents)
	}
}

func TestSaveRefusesBadROIs(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*sensors.ROIs)
	}{
		{"out of frame", func(r *sensors.ROIs) { r.ColdCylinder.X = 28 }},
		{"empty", func(r *sensors.ROIs) { r.Flame.W = 0 }},
		{"negative", func(r *sensors.ROIs) { r.HotCylinder.Y = -1 }},
		{"cylinders overlap", func(r *sensors.ROIs) { r.ColdCylinder.X = 14 }},
		{"flame on cold cylinder", func(r *sensors.ROIs) { r.Flame = sensors.ROI{X: 21, Y: 6, W: 2, H: 2} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rois.yaml")
			if err := os.WriteFile(path, MarshalROIs(goodROIs()), 0o644); err != nil {
				t.Fatal(err)
			}
			r := goodROIs()
			tc.mod(&r)
			_, err := Save(path, r, &SaveOpts{Logger: slog.New(slog.DiscardHandler)})
			if !errors.Is(err, sensors.ErrROI) || !errors.Is(err, ErrSave) {
				t.Fatalf("err = %v", err)
			}
			t.Log(err)
			if got, err := LoadROIs(path); err != nil || got != goodROIs() {
				t.Fatalf("file changed: %+v %v", got, err)
			}
			if _, err := os.Stat(path + ".bak"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("backup written: %v", err)
			}
		})
	}
}

func TestSaveOwnerAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testsrv.RequireInCI(t, "needs root to chown")
	}
	path := filepath.Join(t.TempDir(), "rois.yaml")
	if _, err := Save(path, goodROIs(), &SaveOpts{Owner: "nobody:nogroup", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	uid, gid, err := lookupOwner("nobody:nogroup")
	if err != nil {
		t.Fatalf("nobody:nogroup (Debian's standard accounts): %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if o := fileOwner(fi); o[0] != uid || o[1] != gid {
		t.Fatalf("owner %v, want %d:%d", o, uid, gid)
	}
}

func TestParseROIs(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"shipped form", string(MarshalROIs(goodROIs())), true},
		{"unknown key", "hot_cylinder: {x: 1, y: 1, w: 2, h: 2}\ncold_cylinder: {x: 20, y: 1, w: 2, h: 2}\nflame: {x: 1, y: 10, w: 2, h: 2}\nextra: 1\n", false},
		{"missing region", "hot_cylinder: {x: 1, y: 1, w: 2, h: 2}\n", false},
		{"not yaml", "{", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseROIs([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMergeConfig(t *testing.T) {
	b, err := MergeConfig("com.stirling.Agent", goodROIs())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]struct {
		MERGE struct {
			ROIs sensors.ROIs `json:"rois"`
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["com.stirling.Agent"].MERGE.ROIs != goodROIs() {
		t.Fatalf("%s", b)
	}
	want := `{"com.stirling.Agent":{"MERGE":{"rois":{"hot_cylinder":{"x":9,"y":4,"w":7,"h":9},"cold_cylinder":{"x":20,"y":5,"w":7,"h":8},"flame":{"x":11,"y":16,"w":4,"h":3}}}}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// TestSaveReplacesSymlink: a symlink at the target is replaced by a
// regular file; its target is neither written nor copied to the backup.
func TestSaveReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yaml")
	link := filepath.Join(dir, "rois.yaml")
	orig := MarshalROIs(goodROIs())
	if err := os.WriteFile(target, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.yaml", link); err != nil {
		t.Fatal(err)
	}
	r := goodROIs()
	r.Flame.Y = 15
	res, err := Save(link, r, &SaveOpts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backup != "" || !strings.Contains(res.NoBackup, "symbolic link") {
		t.Fatalf("result %+v", res)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("link not replaced: %v %v", fi, err)
	}
	if got, err := LoadROIs(link); err != nil || got != r {
		t.Fatalf("saved %+v %v", got, err)
	}
	if b, _ := os.ReadFile(target); !bytes.Equal(b, orig) {
		t.Fatalf("link target written: %q", b)
	}
	if _, err := os.Lstat(link + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup of a link: %v", err)
	}
}

// TestSaveBackupRefusals: what is not copied to the backup, and why.
func TestSaveBackupRefusals(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, path string)
		why   string
	}{
		{"too large", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("#"), maxBackup+1), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "larger than 64 KiB"},
		{"hard link", func(t *testing.T, path string) {
			other := filepath.Join(filepath.Dir(filepath.Dir(path)), "other.yaml")
			if err := os.WriteFile(other, []byte("other\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(other, path); err != nil {
				t.Fatal(err)
			}
		}, "2 hard links"},
		{"fifo", func(t *testing.T, path string) {
			if err := mkfifo(path); err != nil {
				t.Skip("mkfifo:", err)
			}
		}, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d", "rois.yaml")
			if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, path)
			res, err := Save(path, goodROIs(), &SaveOpts{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Backup != "" || !strings.Contains(res.NoBackup, tc.why) {
				t.Fatalf("result %+v, want NoBackup with %q", res, tc.why)
			}
			if _, err := os.Lstat(path + ".bak"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("backup written: %v", err)
			}
			if got, err := LoadROIs(path); err != nil || got != goodROIs() {
				t.Fatalf("saved %+v %v", got, err)
			}
		})
	}
}

// TestSaveRefusesUnsafeDirectories: directories others can write to, and
// links that are not root's or the caller's, are refused.
func TestSaveRefusesUnsafeDirectories(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(base, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sticky", filepath.Join(base, "mine")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		err        string // empty: saved
	}{
		{"world-writable directory", filepath.Join(open, "rois.yaml"), "writable by group or others"},
		{"world-writable parent", filepath.Join(open, "sub", "rois.yaml"), "writable by group or others"},
		{"sticky directory", filepath.Join(sticky, "rois.yaml"), ""},
		{"own symlink to a directory", filepath.Join(base, "mine", "x.yaml"), ""},
		{"missing parents", filepath.Join(base, "a", "b", "rois.yaml"), "no such file"},
		{"a file as directory", filepath.Join(base, "mine", "x.yaml", "rois.yaml"), "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Save(tc.path, goodROIs(), &SaveOpts{Logger: slog.New(slog.DiscardHandler)})
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrSave) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			t.Log(err)
		})
	}
}
