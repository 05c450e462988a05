package main

import (
	"context"
	"errors"
)

// TODO(me): placeholder until the subcommand lands.
func cmdRun(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "run", "stirling run", "Not built yet.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return errors.New("run: not built yet")
}
