package quarantine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline/spool"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-11-22T03:00:00Z", time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"0s", now, false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	} {
		got, err := ParseSince(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestListAndDryRun: the filter selects by publisher and time, the table
// counts the readings, and a dry run changes nothing.
func TestListAndDryRun(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.DefaultOpts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	for _, e := range []spool.QuarantineEntry{
		{Time: t0, Publisher: "sitewise", Seq: 7, Reason: "bad\nvalue", Readings: []byte(`[{"metric":"rpm"},{"metric":"rpm"}]`)},
		{Time: t0.Add(time.Hour), Publisher: "mqtt", Seq: 9, Reason: "too big", Readings: []byte(`[{"metric":"rpm"}]`)},
		{Time: t0.Add(2 * time.Hour), Publisher: "sitewise", Seq: 11, Reason: "raw", Payload: []byte{1}},
	} {
		if err := s.Quarantine(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	o := &Opts{Publisher: "sitewise", Stdout: &out, Stderr: &errb}
	if err := List(dir, o); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "2026-11-22T03:00:00Z  sitewise   7       2            bad value") || !strings.Contains(got, "undecodable") || strings.Contains(got, "mqtt") {
		t.Errorf("list:\n%s", got)
	}
	if errb.String() != "2 entries, 2 readings\n" {
		t.Errorf("stderr %q", errb.String())
	}
	out.Reset()
	o = &Opts{Since: t0.Add(time.Minute), DryRun: true, Stdout: &out, Stderr: &errb}
	if err := Requeue(dir, o); err != nil {
		t.Fatal(err)
	}
	if out.String() != "would requeue 1 entries for mqtt\n" {
		t.Errorf("dry run: %q", out.String())
	}
	if es, _, err := spool.ReadQuarantine(dir); err != nil || len(es) != 3 {
		t.Errorf("after the dry run: %d entries, %v", len(es), err)
	}
	if err := List(dir+"/nope", o); err == nil || !strings.Contains(err.Error(), "check --spool or --config") {
		t.Errorf("missing directory: %v", err)
	}
}
