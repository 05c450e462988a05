// Package quarantine is the operator's side of the spool's quarantine
// (`stirling spool quarantine list|requeue`): it lists the entries a
// publisher rejected for good, and requeues them for that publisher. The
// storage itself, and the rules of the requeue files, are the spool's
// (spool.ReadQuarantine, spool.Requeue).
package quarantine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stirling-iot/stirling/pipeline/spool"
)

// Opts select the entries and say where the output goes.
type Opts struct {
	// Publisher, when set, selects that publisher's entries only.
	Publisher string
	// Since selects the entries quarantined at or after it.
	Since time.Time
	// JSON makes List print the entries as stored, one JSON line each.
	JSON bool
	// DryRun makes Requeue say what it would requeue, changing nothing.
	DryRun bool
	// Configured, when not nil, are the publishers the agent's config has:
	// Requeue leaves the entries of any other in the quarantine (a requeue
	// file for it would never be delivered).
	Configured []string
	// Stdout receives the listing and the result; Stderr the warnings and
	// the summary.
	Stdout, Stderr io.Writer
}

// DefaultOpts select every entry and write to standard output and error.
func DefaultOpts() *Opts { return &Opts{Stdout: os.Stdout, Stderr: os.Stderr} }

// match reports whether o selects q.
func (o *Opts) match(q *spool.QuarantineEntry) bool {
	return (o.Publisher == "" || q.Publisher == o.Publisher) && !q.Time.Before(o.Since)
}

// ParseSince reads an RFC 3339 time or a duration before now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-22T03:00:00Z) or a duration (24h)", s)
}

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		return fmt.Errorf("spool directory %s: %w (check --spool or --config)", dir, err)
	}
	return nil
}

// List prints the selected entries of the quarantine in the spool
// directory dir, oldest first: a table, or with JSON the stored lines.
// Damaged lines are reported on Stderr as warnings, followed by a count.
func List(dir string, o *Opts) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	es, damaged, err := spool.ReadQuarantine(dir)
	if err != nil {
		return err
	}
	for _, d := range damaged {
		fmt.Fprintf(o.Stderr, "warning: %v\n", d)
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	if !o.JSON {
		fmt.Fprintln(tw, "TIME\tPUBLISHER\tRECORD\tREADINGS\tREASON")
	}
	n, readings := 0, 0
	for i := range es {
		q := &es[i]
		if !o.match(q) {
			continue
		}
		n++
		k := countJSON(q.Readings)
		readings += k
		if o.JSON {
			b, err := json.Marshal(q)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Stdout, "%s\n", b)
			continue
		}
		rs := strings.TrimSpace(fmt.Sprint(k))
		if len(q.Readings) == 0 {
			rs = "undecodable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", q.Time.UTC().Format(time.RFC3339), q.Publisher, q.Seq, rs, oneLine(q.Reason, 160))
	}
	if !o.JSON {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Stderr, "%d entries, %d readings\n", n, readings)
	return nil
}

// Requeue moves the selected entries of the quarantine in the spool
// directory dir to the requeue files of the publishers that rejected them
// (spool.Requeue), and says what it moved and when the agent delivers it.
func Requeue(dir string, o *Opts) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	if o.DryRun {
		es, _, err := spool.ReadQuarantine(dir)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for i := range es {
			if o.match(&es[i]) && len(es[i].Readings) > 0 {
				per[es[i].Publisher]++
			}
		}
		for _, name := range sortedKeys(per) {
			fmt.Fprintf(o.Stdout, "would requeue %d entries for %s\n", per[name], name)
		}
		return nil
	}
	var unknown []string
	pick := func(q *spool.QuarantineEntry) bool {
		if !o.match(q) {
			return false
		}
		if o.Configured != nil && !slices.Contains(o.Configured, q.Publisher) {
			if !slices.Contains(unknown, q.Publisher) {
				unknown = append(unknown, q.Publisher)
			}
			return false
		}
		return true
	}
	res, err := spool.Requeue(dir, pick)
	if err != nil {
		return err
	}
	for _, name := range unknown {
		fmt.Fprintf(o.Stderr, "warning: entries of %q left in the quarantine: no such publisher in the config\n", name)
	}
	if res.Undecodable > 0 {
		fmt.Fprintf(o.Stderr, "warning: %d matching entries left in the quarantine: their record never decoded into readings\n", res.Undecodable)
	}
	for _, name := range sortedKeys(res.Requeued) {
		fmt.Fprintf(o.Stdout, "requeued %d entries for %s\n", res.Requeued[name], name)
	}
	for _, f := range res.Files {
		fmt.Fprintf(o.Stdout, "  %s\n", f)
	}
	if len(res.Files) == 0 {
		fmt.Fprintln(o.Stdout, "nothing to requeue")
		return nil
	}
	running, err := spool.Locked(dir)
	switch {
	case err != nil:
		fmt.Fprintf(o.Stderr, "warning: cannot tell whether the agent runs: %v\n", err)
	case running:
		fmt.Fprintf(o.Stdout, "%d readings: the running agent delivers them within a few seconds\n", res.Readings)
	default:
		fmt.Fprintf(o.Stdout, "%d readings: delivered when the agent next starts\n", res.Readings)
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
