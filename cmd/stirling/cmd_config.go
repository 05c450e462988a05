package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/agent"
	"github.com/stirling-iot/stirling/recipe"
)

const configHelp = `Check a configuration file: the same gate stirling run passes at start.

  stirling config check [--recipe RECIPE | --topic-prefix PREFIX] FILE

Besides the keys and values, it checks what run checks before it starts a
publisher, without opening any network connection: the mqtt endpoint (or
the Greengrass nucleus's), the certificate, key and CA files (readable,
parsing, the key matching the certificate), the sitewise endpoint (https,
or http on loopback only) and region, the file publisher's directory, and
that every greengrass publisher's topic is allowed by the accessControl of
the recipe: RECIPE (the one deployed), or the one stirling recipe renders
from FILE (with --topic-prefix, as stirling recipe --topic-prefix does).

With no problems, prints the effective configuration as YAML: the file
merged over the defaults, with the thing name taken from AWS_IOT_THING_NAME
when the file leaves it empty, followed by the regions read from rois_file.
Otherwise prints every problem, one per line, as

  FILE:LINE: KEY: MESSAGE

and exits with status 1. FILE may be embedded:agent.yaml or
embedded:sim.yaml to check the configurations built into the binary.`

func cmdConfig(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "config", "stirling config check [--recipe RECIPE | --topic-prefix PREFIX] FILE", configHelp)
	recipeFile := fs.String("recipe", "", "check the greengrass publishers' topics against the accessControl of this recipe `file`")
	prefix := fs.String("topic-prefix", "", "check against the recipe rendered with --topic-prefix `PREFIX`")
	if len(args) > 0 && args[0] == "check" {
		args = args[1:] // flags come after the verb
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(e.stderr, "usage: stirling config check FILE (see stirling config --help)")
		return &exitError{code: 2, err: errUsageShown}
	} else if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: stirling config check FILE (see stirling config --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) != 1 || (*recipeFile != "" && *prefix != "") {
		fmt.Fprintln(e.stderr, "usage: stirling config check [--recipe RECIPE | --topic-prefix PREFIX] FILE (see stirling config --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	cfg, err := configs.Load(rest[0])
	if err == nil {
		var g recipe.Grants
		if g, err = recipe.GrantsFor(cfg, *recipeFile, *prefix); err == nil {
			err = agent.CheckStart(cfg, &g)
		}
	}
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
