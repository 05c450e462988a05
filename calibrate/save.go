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
	// world-readable anyway). Directories owned by this user are trusted
	// on the way to the file (see Save).
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

// SaveResult is what Save wrote: only files that were actually written.
type SaveResult struct {
	// Path is the ROI file written (absolute).
	Path string
	// Backup is the copy of the previous file, path+".bak"; empty when no
	// backup was written.
	Backup string
	// NoBackup says why a previous entry at Path was not copied (it was a
	// link, not a regular file, or too large); empty when there was none
	// or it was copied. It never holds the entry's content.
	NoBackup string
}

// Message says what was written, for the terminal and the page: the file,
// and the backup only when one was written.
func (r SaveResult) Message() string {
	switch {
	case r.Path == "":
		return "nothing saved"
	case r.Backup != "":
		return fmt.Sprintf("Saved to %s (previous version in %s)", r.Path, r.Backup)
	case r.NoBackup != "":
		return fmt.Sprintf("Saved to %s (the previous entry was not backed up: %s)", r.Path, r.NoBackup)
	default:
		return fmt.Sprintf("Saved to %s (no previous file)", r.Path)
	}
}

// ErrUnsafePath is wrapped by the errors of Save that refuse a directory
// or a path component (always inside ErrSave): a link it will not follow,
// an owner or mode it does not trust.
var ErrUnsafePath = errors.New("unsafe path")

// maxBackup caps the previous file Save copies to the backup. A ROI file
// is a few hundred bytes; anything larger was not written by calibrate.
const maxBackup = 64 << 10

// Save validates r and writes it to path atomically, safe to run as root
// in a directory that another user (the Greengrass component user) can
// write to. Invalid regions write nothing and return an error wrapping
// sensors.ErrROI.
//
// The directory of path is opened once and every later step works on
// that descriptor; nothing is looked up by name again:
//
//   - Path components are opened one by one from "/" with O_NOFOLLOW. A
//     symbolic link among them is followed only when it is owned by root
//     or by the caller and sits in a directory owned by root or by the
//     caller (so /tmp -> private/tmp on macOS works, but a link the
//     component user planted is refused with ErrUnsafePath). A missing
//     last directory is created (0755); missing parents are an error.
//   - Every directory on the way, including the last, must be owned by
//     root, by the caller, or by the file's owner (SaveOpts.Owner: the
//     component user owns its work directory), and must not be writable
//     by group or others unless it is sticky. Anyone else who can write
//     to a directory on the way could redirect the save.
//   - The new content goes to a temporary file created with
//     O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600), is written and fsynced, then
//     the descriptor is chowned (when Owner resolves) and chmodded, and
//     renamed over the name within the directory, which is then fsynced.
//     A link at the name is replaced, never followed; the file a hard
//     link shared the name with keeps its content, mode and owner.
//   - The backup path+".bak" is made the same way from the previous
//     file, read with O_NOFOLLOW|O_NONBLOCK. Only a regular file with a
//     single link and at most 64 KiB is copied; anything else (a symbolic
//     link, a hard link to another file, a FIFO) is neither read nor
//     copied, and SaveResult.NoBackup says why.
//
// Earlier versions wrote through a symlink at path to its target; Save
// now replaces such a link with a regular file.
// A nil o means the defaults (see SaveOpts).
func Save(path string, r sensors.ROIs, opts *SaveOpts) (SaveResult, error) {
	var o SaveOpts
	if opts != nil {
		o = *opts
	}
	if err := r.Validate(); err != nil {
		return SaveResult{}, fmt.Errorf("%w: nothing written: %w", ErrSave, err)
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
	abs, err := filepath.Abs(path)
	if err != nil {
		return SaveResult{}, fmt.Errorf("%w: %w", ErrSave, err)
	}
	dir, name := filepath.Split(abs)
	if name == "" || name == "." || name == ".." {
		return SaveResult{}, fmt.Errorf("%w: %s: not a file name", ErrSave, path)
	}
	res, err := saveAt(dir, name, MarshalROIs(r), o.Mode, uid, gid, log)
	if err != nil {
		return SaveResult{}, fmt.Errorf("%w: %w", ErrSave, err)
	}
	return res, nil
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
