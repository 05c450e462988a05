package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/version"
	"github.com/stirling-iot/stirling/recipe"
)

const recipeHelp = `Render or validate the Greengrass V2 component recipe.

  stirling recipe --artifacts s3://BUCKET[/PREFIX] [--version X.Y.Z] [--config FILE] [-o FILE]
  stirling recipe validate [--artifact-dir DIR] FILE...

Render writes the recipe (YAML) to stdout or -o FILE: one manifest per
architecture the nucleus reports (aarch64: 64-bit JVM, arm: 32-bit JVM),
a Run step "exec {artifacts:path}/stirling-<arch> run ...", the
configuration FILE (default embedded:agent.yaml) with every default
filled in as DefaultConfiguration, and least-privilege accessControl:
PublishToIoTCore only on the topic space of the greengrass publishers
(their levels up to {thing}, as {iot:thingName}), or --topic-prefix.
Artifact URIs are s3://BUCKET/PREFIX/<component>/<version>/<file>, the
layout of dist/greengrass/artifacts. The version defaults to the binary's
own (stirling version): the vX.Y.Z tag or the VERSION file it was built
from, so make package, the binaries and the recipe agree.

Validate applies the documented recipe rules, and least privilege (an
accessControl resource of * or a bare #, which grants every topic, and
RequiresPrivilege: true, which runs a step as root, are problems), and
prints every problem as

  FILE:LINE: PATH: MESSAGE

exiting with status 1 if there is any. With --artifact-dir it also checks
that each artifact exists there as greengrass-cli --artifactDir expects.`

func cmdRecipe(_ context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "validate" {
		return cmdRecipeValidate(e, args[1:])
	}
	fs := newFlagSet(e, "recipe", "stirling recipe --artifacts s3://BUCKET[/PREFIX] [flags] | stirling recipe validate FILE...", recipeHelp)
	ver := fs.String("version", version.Semver(), "component version, semver `X.Y.Z` (default: this binary's own version)")
	artifacts := fs.String("artifacts", "", "where the binaries are uploaded: `s3://bucket/prefix` (required)")
	cfgFile := fs.String("config", "embedded:agent.yaml", "agent configuration rendered as DefaultConfiguration")
	name := fs.String("name", recipe.DefaultName, "component name")
	prefix := fs.String("topic-prefix", "", "grant PublishToIoTCore on `PREFIX/#` only (default: derived from the greengrass publishers)")
	rule := fs.String("basic-ingest-rule", "", "also grant $aws/rules/`RULE`/ on the same topics")
	runArgs := fs.String("run-args", recipe.DefaultRunArgs, "arguments of the Run step")
	out := fs.String("o", "", "write the recipe to `FILE` instead of stdout")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "stirling recipe: unexpected argument %q (see stirling recipe --help)\n", fs.Arg(0))
		return &exitError{code: 2, err: errUsageShown}
	}
	if *artifacts == "" {
		fmt.Fprintln(e.stderr, "stirling recipe: --artifacts s3://bucket/prefix is required (see stirling recipe --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	cfg, err := configs.LoadFleet(*cfgFile) // per-device thing name left to each device
	if err != nil {
		var es configs.Errors
		if errors.As(err, &es) {
			fmt.Fprintln(e.stderr, es.Error())
			return &exitError{code: 1, err: errUsageShown}
		}
		return err
	}
	m, err := recipe.ConfigMap(cfg)
	if err != nil {
		return err
	}
	r, err := recipe.Render(&recipe.Opts{
		Name: *name, Version: *ver, Artifacts: *artifacts, Config: m,
		TopicPrefix: *prefix, BasicIngestRule: *rule, RunArgs: *runArgs,
	})
	if err != nil {
		return err
	}
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = e.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	return nil
}

func cmdRecipeValidate(e *env, args []string) error {
	fs := newFlagSet(e, "recipe validate", "stirling recipe validate [--artifact-dir DIR] FILE...", recipeHelp)
	dir := fs.String("artifact-dir", "", "check the artifacts exist under `DIR`/<component>/<version>/")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "usage: stirling recipe validate [--artifact-dir DIR] FILE... (see stirling recipe --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	var n int
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("recipe: %w", err)
		}
		for _, p := range recipe.Validate(b, &recipe.ValidateOpts{ArtifactDir: *dir}) {
			n++
			fmt.Fprintf(e.stderr, "%s:%d: %s\n", f, p.Line, p)
		}
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "%d problem(s)\n", n)
		return &exitError{code: 1, err: errUsageShown}
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", strings.Join(fs.Args(), ", "))
	return nil
}
