//go:build linux

package calibrate

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stirling-iot/stirling/internal/testsrv"
	"github.com/stirling-iot/stirling/sensors"
)

// The attacker tests model `sudo stirling calibrate` on a Greengrass Pi:
// the ROI file lives in the component's work directory, which the
// component user owns, so anything running as that user can plant links
// there before root saves. The planting runs as the unprivileged user
// "nobody" (a shell started with its credentials); the save runs as root,
// the test process. Every scenario asserts that the root-only victim files
// keep their content, mode and owner, that no file the attacker can reach
// holds their content, and that the save either refused with an error or
// wrote the regions to a regular file in the work directory.

// secretMark is in every victim file; it must never leave them.
const secretMark = "SECRET-ROOT-ONLY"

type attacker struct {
	uid, gid int
	owner    string // SaveOpts.Owner: the attacker is the component user
}

func needAttacker(t *testing.T) attacker {
	t.Helper()
	if os.Geteuid() != 0 {
		testsrv.RequireInCI(t, "the attacker test saves as root and plants as nobody: needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		testsrv.RequireInCI(t, "user nobody: %v", err)
	}
	group := "nogroup"
	g, err := user.LookupGroup(group)
	if err != nil {
		if g, err = user.LookupGroupId(u.Gid); err != nil {
			testsrv.RequireInCI(t, "nobody's group: %v", err)
		}
		group = g.Name
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return attacker{uid: uid, gid: gid, owner: "nobody:" + group}
}

// plant runs script with /bin/sh in dir as the attacker.
func (a attacker) plant(t *testing.T, dir, script string) {
	t.Helper()
	a.plantInput(t, dir, script, "")
}

// plantInput is plant with stdin.
func (a attacker) plantInput(t *testing.T, dir, script, stdin string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("planting as nobody: %s: %v\n%s", script, err, out)
	}
}

// victim is a root-owned file, mode 0600, in a root-only directory.
type victim struct {
	path    string
	content []byte
}

func newVictim(t *testing.T, dir, name string) victim {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v := victim{path: filepath.Join(dir, name), content: []byte(secretMark + " " + name + "\n")}
	if err := os.WriteFile(v.path, v.content, 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) check(t *testing.T) {
	t.Helper()
	fi, err := os.Lstat(v.path)
	if err != nil {
		t.Fatalf("victim %s: %v", v.path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("victim %s: mode %v, want -rw------- (regular)", v.path, fi.Mode())
	}
	if o := fileOwner(fi); o != [2]int{0, 0} {
		t.Errorf("victim %s: owner %v, want 0:0", v.path, o)
	}
	if got, _ := os.ReadFile(v.path); !bytes.Equal(got, v.content) {
		t.Errorf("victim %s: content %q, want %q", v.path, got, v.content)
	}
}

// noLeak fails when a file under dir other than the victims holds the
// secret (e.g. a backup copied from a victim).
func noLeak(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secretMark)) {
			fi, _ := os.Lstat(p)
			t.Errorf("%s (mode %v, owner %v) holds a victim's content", p, fi.Mode(), fileOwner(fi))
		}
		return nil
	})
}

// attackLayout is /base (0755 root), /base/secret (0700 root, the victims),
// /base/work (0700 nobody, the Greengrass work directory).
func attackLayout(t *testing.T, a attacker) (work, secret string) {
	t.Helper()
	base := t.TempDir()
	// t.TempDir's parent is root-only too; nobody must reach its work dir.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work, secret = filepath.Join(base, "work"), filepath.Join(base, "secret")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(work, a.uid, a.gid); err != nil {
		t.Fatal(err)
	}
	return work, secret
}

func saveForTest(path string, r sensors.ROIs, o SaveOpts) error {
	_, err := Save(path, r, &o)
	return err
}

// checkSaved asserts a successful save left the regions in a regular file.
func checkSaved(t *testing.T, path string, want sensors.ROIs, a attacker) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("saved file: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Errorf("saved file mode %v, want -rw-r--r--", fi.Mode())
	}
	if o := fileOwner(fi); o != [2]int{a.uid, a.gid} {
		t.Errorf("saved file owner %v, want %d:%d", o, a.uid, a.gid)
	}
	if got, err := LoadROIs(path); err != nil || got != want {
		t.Errorf("saved file: %+v %v, want %+v", got, err, want)
	}
}

func TestSaveAsRootAgainstPlantedLinks(t *testing.T) {
	a := needAttacker(t)
	r := goodROIs()
	r.Flame.X = 12
	prev := MarshalROIs(goodROIs())
	tests := []struct {
		name string
		// setup plants the attack and returns the path to save and the
		// victims it aims at.
		setup func(t *testing.T, work, secret string) (string, []victim)
		// refuse: the save must fail (the safe outcome when the directory
		// is not the one asked for).
		refuse bool
	}{
		{"symlink at the target", func(t *testing.T, work, secret string) (string, []victim) {
			v := newVictim(t, secret, "shadow")
			a.plant(t, work, "ln -s "+v.path+" rois.yaml")
			return filepath.Join(work, "rois.yaml"), []victim{v}
		}, false},
		{"symlink at the backup", func(t *testing.T, work, secret string) (string, []victim) {
			v := newVictim(t, secret, "shadow")
			a.plantInput(t, work, "cat > rois.yaml && ln -s "+v.path+" rois.yaml.bak", string(prev))
			return filepath.Join(work, "rois.yaml"), []victim{v}
		}, false},
		{"symlinks at the target and the backup", func(t *testing.T, work, secret string) (string, []victim) {
			v1, v2 := newVictim(t, secret, "shadow"), newVictim(t, secret, "sudoers")
			a.plant(t, work, "ln -s "+v1.path+" rois.yaml && ln -s "+v2.path+" rois.yaml.bak")
			return filepath.Join(work, "rois.yaml"), []victim{v1, v2}
		}, false},
		{"directory replaced by a symlink", func(t *testing.T, work, secret string) (string, []victim) {
			// The attacker owns work and so can swap its subdirectory cal
			// (the directory calibrate was told to write to) for a link to
			// a root-only directory that holds a file of the same name.
			v := newVictim(t, secret, "rois.yaml")
			a.plant(t, work, "mkdir cal && rmdir cal && ln -s "+secret+" cal")
			return filepath.Join(work, "cal", "rois.yaml"), []victim{v}
		}, true},
		{"hard link at the target", func(t *testing.T, work, secret string) (string, []victim) {
			// fs.protected_hardlinks stops nobody from linking a root file
			// it cannot write, so root plants the link into the attacker's
			// directory: this models a system without that protection (or
			// a victim file the attacker may link). Save must not copy the
			// victim into the backup nor write through the link.
			v := newVictim(t, secret, "shadow")
			if err := os.Link(v.path, filepath.Join(work, "rois.yaml")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(work, "rois.yaml"), []victim{v}
		}, false},
		{"hard link at the backup", func(t *testing.T, work, secret string) (string, []victim) {
			v := newVictim(t, secret, "shadow")
			a.plantInput(t, work, "cat > rois.yaml", string(prev))
			if err := os.Link(v.path, filepath.Join(work, "rois.yaml.bak")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(work, "rois.yaml"), []victim{v}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work, secret := attackLayout(t, a)
			path, victims := tc.setup(t, work, secret)
			before, _ := os.ReadDir(secret)
			err := saveForTest(path, r, SaveOpts{Owner: a.owner, Logger: slog.New(slog.DiscardHandler)})
			t.Logf("save: %v", err)
			for _, v := range victims {
				v.check(t)
			}
			noLeak(t, work)
			if after, _ := os.ReadDir(secret); len(after) != len(before) {
				t.Errorf("the root-only directory changed: %v -> %v", before, after)
			}
			switch {
			case tc.refuse && err == nil:
				t.Errorf("save through a planted directory link succeeded")
			case err != nil && strings.Contains(err.Error(), secretMark):
				t.Errorf("the error shows a victim's content: %v", err)
			case !tc.refuse && err != nil:
				t.Errorf("save failed: %v", err)
			case !tc.refuse:
				checkSaved(t, path, r, a)
			}
		})
	}
}

// TestServerSaveAsRootAgainstPlantedLink saves through the page's HTTP
// handler, the way `stirling calibrate` wires it, onto a planted symlink.
func TestServerSaveAsRootAgainstPlantedLink(t *testing.T) {
	a := needAttacker(t)
	work, secret := attackLayout(t, a)
	v := newVictim(t, secret, "shadow")
	a.plant(t, work, "ln -s "+v.path+" rois.yaml")
	path := filepath.Join(work, "rois.yaml")
	srv := NewServer(&ServerOpts{ROIs: goodROIs(), Logger: slog.New(slog.DiscardHandler),
		Save: func(_ context.Context, r sensors.ROIs) (string, error) {
			res, err := Save(path, r, &SaveOpts{Owner: a.owner, Logger: slog.New(slog.DiscardHandler)})
			return res.Message(), err
		}})
	r := goodROIs()
	r.HotCylinder.Y = 5
	body, _ := json.Marshal(r)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/save", bytes.NewReader(body))
	req.Host = "127.0.0.1:8088" // the page's own name (httptest's default, example.com, is refused)
	srv.Handler().ServeHTTP(rec, req)
	t.Logf("POST /api/save: %d %s", rec.Code, rec.Body)
	v.check(t)
	noLeak(t, work)
	if strings.Contains(rec.Body.String(), secretMark) {
		t.Errorf("the page shows a victim's content: %s", rec.Body)
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /api/save: %d %s", rec.Code, rec.Body)
	}
	checkSaved(t, path, r, a)
	// The message names only what was written: no backup of a link.
	var got struct{ Message string }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || strings.Contains(got.Message, ".bak") || !strings.Contains(got.Message, path) {
		t.Errorf("message %q (%v): want the file and no backup", got.Message, err)
	}
}
