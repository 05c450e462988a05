// Package perm turns "permission denied" on the camera's I2C bus or the
// tachometer's GPIO chip into an error that names the missing group and the
// command that fixes it. The agent runs as an unprivileged user (ggc_user
// under Greengrass) in the gpio and i2c groups; it never needs root.
package perm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// ErrDenied is wrapped by the error Check returns for a device the current
// user may not open.
var ErrDenied = errors.New("permission denied")

// Checker checks device access. The zero value checks the real system.
type Checker struct {
	// Open opens path read-write; nil means os.OpenFile.
	Open func(path string) error
	// Stat returns path's info; nil means os.Stat.
	Stat func(path string) (fs.FileInfo, error)
	// User is the name in the fix-it command; empty means the current user.
	User string
	// GroupName maps a gid to a name; nil means user.LookupGroupId.
	GroupName func(gid uint32) (string, error)
}

// Check opens each device. A missing device is not this package's business
// (the driver reports it with its own context) and passes; a device that
// exists but cannot be opened for lack of permission returns an error like:
//
//	/dev/i2c-1: permission denied: user "ggc_user" is not in group "i2c"; fix: sudo usermod -aG i2c ggc_user, then restart the agent (or the Greengrass nucleus)
func (c Checker) Check(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := c.check(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c Checker) check(path string) error {
	open := c.Open
	if open == nil {
		open = func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err == nil {
				f.Close()
			}
			return err
		}
	}
	err := open(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%s: %w", path, err)
	}
	stat := c.Stat
	if stat == nil {
		stat = os.Stat
	}
	who := c.User
	if who == "" {
		who = "<user>"
		if u, uerr := user.Current(); uerr == nil {
			who = u.Username
		}
	}
	group := ""
	if fi, serr := stat(path); serr == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			group = c.groupName(st.Gid)
		}
	}
	if group == "" {
		return fmt.Errorf("%s: %w for user %q; give the user read-write access to the device", path, ErrDenied, who)
	}
	return fmt.Errorf("%s: %w: user %q is not in group %q; fix: sudo usermod -aG %s %s, then restart the agent (or the Greengrass nucleus)",
		path, ErrDenied, who, group, group, who)
}

func (c Checker) groupName(gid uint32) string {
	if c.GroupName != nil {
		if n, err := c.GroupName(gid); err == nil {
			return n
		}
		return strconv.FormatUint(uint64(gid), 10)
	}
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}
