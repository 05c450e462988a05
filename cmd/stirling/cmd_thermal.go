package main

import (
	"context"
	"errors"
)

// TODO(mlx90640-helper): placeholder until the subcommand lands.
func cmdThermal(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "thermal", "stirling thermal", "Not built yet.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return errors.New("thermal: not built yet")
}
