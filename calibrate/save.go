package calibrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/yamlbound"
	"github.com/stirling-iot/stirling/sensors"
)

// ErrSave is wrapped by every error of Save.
var ErrSave = errors.New("calibrate: save")

// DefaultOwnerSpec is the owner the ROI file gets when calibrate runs as
// root and that user exists: the Greengrass component user.
const DefaultOwnerSpec = "ggc_user:ggc_group"

// SaveOpts are the options of Save.
type SaveOpts struct {
	// Owner is "user:group" (or "user") for the file; empty leaves the owner
	// alone. An owner that does not exist on this machine is skipped with a
	// log line, as is a chown refused because we are not root (the file is
	// world-readable anyway).
	Owner string
	// Mode of the file; 0 means 0644.
	Mode fs.FileMode
	// Logger receives what was skipped; nil means slog.Default().
	Logger *slog.Logger
}

// MarshalROIs returns the YAML form of r, as the agent reads it.
func MarshalROIs(r sensors.ROIs) []byte {
	var b bytes.Buffer
	b.WriteString("# Regions of interest on the 32x24 thermal image: columns x..x+w-1, rows\n")
	b.WriteString("# y..y+h-1 (x 0..31 left to right, y 0..23 top to bottom).\n")
	b.WriteString("# Written by `stirling calibrate`; the running agent picks it up.\n")
	for _, n := range r.Named() {
		fmt.Fprintf(&b, "%-14s {x: %d, y: %d, w: %d, h: %d}\n", n.Name+":", n.ROI.X, n.ROI.Y, n.ROI.W, n.ROI.H)
	}
	return b.Bytes()
}

// ParseROIs decodes the YAML form of the regions as the agent does
// (configs.ParseROIs: strict, bounded in size and aliases, one document)
// and validates them.
func ParseROIs(data []byte) (sensors.ROIs, error) {
	r, err := configs.ParseROIs("", data)
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("calibrate: parse regions: %w", err)
	}
	return *r, nil
}

// LoadROIs reads and validates a ROI file.
func LoadROIs(path string) (sensors.ROIs, error) {
	data, err := yamlbound.ReadFile(path) // refuses a file over 1 MiB
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("calibrate: %w", err)
	}
	r, err := ParseROIs(data)
	if err != nil {
		return sensors.ROIs{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Save validates r and writes it to path atomically: a temporary file in
// the same directory, fsync, rename, fsync of the directory. A previous
// file is first copied to path+".bak" the same way. A symlink is written
// through (its target is replaced, the link kept). Invalid regions write
// nothing and return an error wrapping sensors.ErrROI.
func Save(path string, r sensors.ROIs, o SaveOpts) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: nothing written: %w", ErrSave, err)
	}
	if o.Mode == 0 {
		o.Mode = 0o644
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "calibrate")
	uid, gid, err := lookupOwner(o.Owner)
	if err != nil {
		log.Warn("owner not found, leaving the file's owner alone", "owner", o.Owner, "err", err)
		uid, gid = -1, -1
	}
	// Write through a symlink to its target rather than replacing the link.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrSave, err)
	}
	if old, err := os.ReadFile(path); err == nil {
		if err := writeAtomic(path+".bak", old, o.Mode, uid, gid, log); err != nil {
			return fmt.Errorf("%w: backup: %w", ErrSave, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: read previous file: %w", ErrSave, err)
	}
	if err := writeAtomic(path, MarshalROIs(r), o.Mode, uid, gid, log); err != nil {
		return fmt.Errorf("%w: %w", ErrSave, err)
	}
	return nil
}

// writeAtomic replaces path with data so that readers see either the old
// or the new content, never a partial file.
func writeAtomic(path string, data []byte, mode fs.FileMode, uid, gid int, log *slog.Logger) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 {
		if cerr := tmp.Chown(uid, gid); cerr != nil {
			log.Warn("chown failed, leaving the file's owner alone", "path", path, "uid", uid, "gid", gid, "err", cerr)
		}
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}

// lookupOwner resolves "user:group" or "user" (the user's primary group).
// Empty means no change (-1, -1).
func lookupOwner(spec string) (uid, gid int, err error) {
	if spec == "" {
		return -1, -1, nil
	}
	name, group, _ := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		return -1, -1, err
	}
	gidStr := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return -1, -1, err
		}
		gidStr = g.Gid
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return -1, -1, err
	}
	gid, err = strconv.Atoi(gidStr)
	if err != nil {
		return -1, -1, err
	}
	return uid, gid, nil
}

// DefaultOwner is DefaultOwnerSpec when this process runs as root and the
// user exists, otherwise empty (leave the owner alone).
func DefaultOwner() string {
	if os.Geteuid() != 0 {
		return ""
	}
	if _, _, err := lookupOwner(DefaultOwnerSpec); err != nil {
		return ""
	}
	return DefaultOwnerSpec
}

// MergeConfig returns the Greengrass configuration update that rolls r out
// to a fleet: {"<component>":{"MERGE":{"rois":{...}}}}, the form
// `greengrass-cli deployment create --update-config` takes.
func MergeConfig(component string, r sensors.ROIs) ([]byte, error) {
	doc := map[string]map[string]map[string]sensors.ROIs{component: {"MERGE": {"rois": r}}}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("calibrate: merge config: %w", err)
	}
	return b, nil
}
