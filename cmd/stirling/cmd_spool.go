package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/pipeline/spool"
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
	spoolDir := fs.String("spool", "", "spool `directory` (default: spool.dir of --config)")
	config := fs.String("config", configs.EmbeddedPrefix+"agent.yaml", "config `file` whose spool.dir to use")
	publisher := fs.String("publisher", "", "only entries of the publisher `name`")
	since := fs.String("since", "", "only entries quarantined at or after `T`: an RFC 3339 time, or a duration ago such as 24h")
	asJSON := fs.Bool("json", false, "list: print the stored JSON lines")
	dryRun := fs.Bool("dry-run", false, "requeue: say what would be requeued, change nothing")
	// Flags may follow the words: split them out first.
	var words, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if f := fs.Lookup(strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")); f != nil && !strings.Contains(a, "=") && !isBoolFlag(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		words = append(words, a)
	}
	if err := parseFlags(e, fs, flags); err != nil {
		return err
	}
	if len(words) != 2 || words[0] != "quarantine" || (words[1] != "list" && words[1] != "requeue") {
		fmt.Fprintln(e.stderr, "usage: stirling spool quarantine list|requeue [flags] (see stirling spool --help)")
		return &exitError{code: 2, err: errUsageShown}
	}
	dir := *spoolDir
	var configured []string
	if dir == "" {
		cfg, err := configs.LoadFleet(*config) // the spool needs no thing name
		if err != nil {
			return fmt.Errorf("spool: find the spool directory: %w (or give --spool DIR)", err)
		}
		dir = cfg.Spool.Dir
		for _, pc := range cfg.Publishers {
			configured = append(configured, pc.DisplayName())
		}
	}
	var from time.Time
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			fmt.Fprintf(e.stderr, "stirling spool: --since: %v\n", err)
			return &exitError{code: 2, err: errUsageShown}
		}
		from = t
	}
	pick := func(q *spool.QuarantineEntry) bool {
		return (*publisher == "" || q.Publisher == *publisher) && !q.Time.Before(from)
	}
	fmt.Fprintf(e.stderr, "spool: %s\n", dir)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return fmt.Errorf("spool directory %s: %w (check --spool or --config)", dir, err)
	}
	if words[1] == "list" {
		return listQuarantine(e, dir, pick, *asJSON)
	}
	return requeueQuarantine(e, dir, pick, *dryRun, configured)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-22T03:00:00Z) or a duration (24h)", s)
}

func listQuarantine(e *env, dir string, pick func(*spool.QuarantineEntry) bool, asJSON bool) error {
	es, damaged, err := spool.ReadQuarantine(dir)
	if err != nil {
		return err
	}
	for _, d := range damaged {
		fmt.Fprintf(e.stderr, "warning: %v\n", d)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "TIME\tPUBLISHER\tRECORD\tREADINGS\tREASON")
	}
	n, readings := 0, 0
	for i := range es {
		q := &es[i]
		if !pick(q) {
			continue
		}
		n++
		k := countJSON(q.Readings)
		readings += k
		if asJSON {
			b, err := json.Marshal(q)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
			continue
		}
		rs := strings.TrimSpace(fmt.Sprint(k))
		if len(q.Readings) == 0 {
			rs = "undecodable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", q.Time.UTC().Format(time.RFC3339), q.Publisher, q.Seq, rs, oneLine(q.Reason, 160))
	}
	if !asJSON {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "%d entries, %d readings\n", n, readings)
	return nil
}

func requeueQuarantine(e *env, dir string, pick func(*spool.QuarantineEntry) bool, dryRun bool, configured []string) error {
	if dryRun {
		es, _, err := spool.ReadQuarantine(dir)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for i := range es {
			if pick(&es[i]) && len(es[i].Readings) > 0 {
				per[es[i].Publisher]++
			}
		}
		for _, name := range sortedKeys(per) {
			fmt.Fprintf(e.stdout, "would requeue %d entries for %s\n", per[name], name)
		}
		return nil
	}
	var unknown []string
	if configured != nil {
		// Requeue only for publishers the config still has: a requeue file
		// for another name would never be delivered.
		inner := pick
		pick = func(q *spool.QuarantineEntry) bool {
			if !inner(q) {
				return false
			}
			if !slices.Contains(configured, q.Publisher) {
				if !slices.Contains(unknown, q.Publisher) {
					unknown = append(unknown, q.Publisher)
				}
				return false
			}
			return true
		}
	}
	res, err := spool.Requeue(dir, pick)
	if err != nil {
		return err
	}
	for _, name := range unknown {
		fmt.Fprintf(e.stderr, "warning: entries of %q left in the quarantine: no such publisher in the config\n", name)
	}
	if res.Undecodable > 0 {
		fmt.Fprintf(e.stderr, "warning: %d matching entries left in the quarantine: their record never decoded into readings\n", res.Undecodable)
	}
	for _, name := range sortedKeys(res.Requeued) {
		fmt.Fprintf(e.stdout, "requeued %d entries for %s\n", res.Requeued[name], name)
	}
	for _, f := range res.Files {
		fmt.Fprintf(e.stdout, "  %s\n", f)
	}
	if len(res.Files) == 0 {
		fmt.Fprintln(e.stdout, "nothing to requeue")
		return nil
	}
	running, err := spool.Locked(dir)
	switch {
	case err != nil:
		fmt.Fprintf(e.stderr, "warning: cannot tell whether the agent runs: %v\n", err)
	case running:
		fmt.Fprintf(e.stdout, "%d readings: the running agent delivers them within a few seconds\n", res.Readings)
	default:
		fmt.Fprintf(e.stdout, "%d readings: delivered when the agent next starts\n", res.Readings)
	}
	return nil
}

func countJSON(raw json.RawMessage) int {
	var rs []json.RawMessage
	if json.Unmarshal(raw, &rs) != nil {
		return 0
	}
	return len(rs)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
