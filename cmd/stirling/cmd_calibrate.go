package main

import (
	"context"
	"errors"
)

// TODO(calibrate-helper): placeholder until the subcommand lands.
func cmdCalibrate(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "calibrate", "stirling calibrate", "Not built yet.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return errors.New("calibrate: not built yet")
}
