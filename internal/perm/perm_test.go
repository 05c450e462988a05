package perm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "i2c-1")
	if err := os.WriteFile(dev, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dev)
	if err != nil {
		t.Fatal(err)
	}
	gid := fi.Sys().(*syscall.Stat_t).Gid
	names := func(g uint32) (string, error) {
		if g == gid {
			return "i2c", nil
		}
		return "", fmt.Errorf("no group %d", g)
	}
	denied := func(string) error { return &fs.PathError{Op: "open", Path: dev, Err: syscall.EACCES} }
	tests := []struct {
		name    string
		c       Checker
		path    string
		wantErr []string
	}{
		{"accessible", Checker{User: "ggc_user", GroupName: names}, dev, nil},
		{"missing device passes", Checker{User: "ggc_user", GroupName: names}, filepath.Join(dir, "nope"), nil},
		{"denied names group and fix", Checker{Open: denied, User: "ggc_user", GroupName: names}, dev,
			[]string{dev, "permission denied", `not in group "i2c"`, "sudo usermod -aG i2c ggc_user"}},
		{"other error wrapped", Checker{Open: func(string) error { return syscall.EIO }, User: "u"}, dev,
			[]string{dev, "input/output error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Check(tt.path)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check = nil, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	err = Checker{Open: denied, User: "u", GroupName: names}.Check(dev)
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("errors.Is(%v, ErrDenied) = false", err)
	}
}
