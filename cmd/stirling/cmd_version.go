package main

import (
	"context"
	"fmt"

	"github.com/stirling-iot/stirling/internal/version"
)

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "stirling version", "Print the version, commit and build date.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, version.String())
	return nil
}
