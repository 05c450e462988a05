package main

import (
	"context"
	"errors"
)

// TODO(recipe-helper): placeholder until the subcommand lands.
func cmdRecipe(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "recipe", "stirling recipe", "Not built yet.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return errors.New("recipe: not built yet")
}
