//go:build !linux

package spool

import "errors"

var errNoTmpfs = errors.New("tmpfs mounts need Linux")

func mountTmpfs(string, string) error   { return errNoTmpfs }
func remountTmpfs(string, string) error { return errNoTmpfs }
func unmount(string) error              { return errNoTmpfs }
