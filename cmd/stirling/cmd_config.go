package main

import (
	"context"
	"errors"
)

// TODO(config-helper): placeholder until the subcommand lands.
func cmdConfig(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "config", "stirling config", "Not built yet.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return errors.New("config: not built yet")
}
