package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stirling-iot/stirling/configs"
)

const configHelp = `Check a configuration file.

  stirling config check FILE

With no problems, prints the effective configuration as YAML: the file
merged over the defaults, with the thing name taken from AWS_IOT_THING_NAME
when the file leaves it empty, followed by the regions read from rois_file.
Otherwise prints every problem, one per line, as

  FILE:LINE: KEY: MESSAGE

and exits with status 1. FILE may be embedded:agent.yaml or
embedded:sim.yaml to check the configurations built into the binary.`

func cmdConfig(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "config", "stirling config check FILE", configHelp)
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) != 2 || rest[0] != "check" {
		fmt.Fprintln(e.stderr, "usage: stirling config check FILE (see stirling config --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	cfg, err := configs.Load(rest[1])
	if err != nil {
		var es configs.Errors
		if errors.As(err, &es) {
			fmt.Fprintln(e.stderr, es.Error())
			return &exitError{code: 1, err: errUsageShown}
		}
		return err
	}
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if _, err := e.stdout.Write(out); err != nil {
		return err
	}
	src := cfg.ROIsPath
	if cfg.ROIsDefaulted {
		src += " (missing: built-in defaults)"
	}
	fmt.Fprintf(e.stdout, "# regions from %s\n", src)
	for _, n := range cfg.ROIs.Named() {
		fmt.Fprintf(e.stdout, "#   %-13s x=%d y=%d w=%d h=%d\n", n.Name, n.ROI.X, n.ROI.Y, n.ROI.W, n.ROI.H)
	}
	return nil
}
