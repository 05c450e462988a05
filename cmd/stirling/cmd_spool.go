package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/pipeline/spool/quarantine"
)

const spoolHelp = `Inspect the spool's quarantine and replay entries from it.

  stirling spool quarantine list    [flags]
  stirling spool quarantine requeue [flags]

A publisher that rejects readings for good (a value SiteWise refuses, a
reading too big for a message, a topic the nucleus refuses as invalid)
moves them to the quarantine, <spool dir>/quarantine.jsonl: one JSON object
a line with the publisher, the time, the reason and the readings. Failures
of the connection or of authorisation never go there: those readings wait
in the spool.

list prints the entries (oldest first); with --json, the lines as stored.

requeue moves the matching entries out of the quarantine into
<spool dir>/requeue/<publisher>/, for the publisher that rejected each one
(and only for it: the other publishers already have those readings). That
publisher's runner delivers them before newer records and deletes each file
once done; readings rejected again go back to the quarantine. It is safe
while the agent runs (it picks them up within 5 s) and while it is stopped
(at its next start). Run it as the agent's user, or with sudo: new files are
given to the owner of the spool directory.

The spool directory is --spool, or spool.dir of --config (default
embedded:agent.yaml, the Greengrass Pi's).

Examples:
  sudo stirling spool quarantine list
  stirling spool quarantine list --config configs/sim.yaml --publisher sitewise --since 24h
  sudo stirling spool quarantine requeue --publisher sitewise --since 2026-11-22T03:00:00Z
  stirling spool quarantine requeue --spool /var/lib/stirling/spool --dry-run`

func cmdSpool(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "spool", "stirling spool quarantine list|requeue [flags]", spoolHelp)
	o := &quarantine.Opts{Stdout: e.stdout, Stderr: e.stderr}
	spoolDir := fs.String("spool", "", "spool `directory` (default: spool.dir of --config)")
	config := fs.String("config", configs.EmbeddedPrefix+"agent.yaml", "config `file` whose spool.dir to use")
	fs.StringVar(&o.Publisher, "publisher", "", "only entries of the publisher `name`")
	since := fs.String("since", "", "only entries quarantined at or after `T`: an RFC 3339 time, or a duration ago such as 24h")
	fs.BoolVar(&o.JSON, "json", false, "list: print the stored JSON lines")
	fs.BoolVar(&o.DryRun, "dry-run", false, "requeue: say what would be requeued, change nothing")
	words, err := parseInterspersed(e, fs, args) // flags may follow the words
	if err != nil {
		return err
	}
	if len(words) != 2 || words[0] != "quarantine" || (words[1] != "list" && words[1] != "requeue") {
		fmt.Fprintln(e.stderr, "usage: stirling spool quarantine list|requeue [flags] (see stirling spool --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	dir := *spoolDir
	if dir == "" {
		cfg, err := configs.LoadFleet(*config) // the spool needs no thing name
		if err != nil {
			return fmt.Errorf("spool: find the spool directory: %w (or give --spool DIR)", err)
		}
		dir = cfg.Spool.Dir
		for _, pc := range cfg.Publishers {
			o.Configured = append(o.Configured, pc.DisplayName()) // the agent's cursor name
		}
	}
	if *since != "" {
		if o.Since, err = quarantine.ParseSince(*since, time.Now()); err != nil {
			fmt.Fprintf(e.stderr, "stirling spool: --since: %v\n", err)
			return &exitError{code: 2, err: errUsageShown}
		}
	}
	fmt.Fprintf(e.stderr, "spool: %s\n", dir)
	if words[1] == "list" {
		return quarantine.List(dir, o)
	}
	return quarantine.Requeue(dir, o)
}
