package publish

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

func sampleBatch() *pipeline.Batch {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	return &pipeline.Batch{ID: 7, Readings: []pipeline.Reading{
		{Seq: 41, Metric: "rpm", Unit: "rpm", Time: t0, Value: 812.5, Count: 1, Min: 812.5, Max: 812.5, Last: 812.5},
		{Seq: 42, Metric: "hot_cylinder_temp", Unit: "degC", Time: t0, Value: 151.25, Quality: pipeline.Uncertain,
			Count: 8, Min: 150, Max: 152.5, Last: 151},
		{Seq: 43, Metric: "engine_state", Time: t0, Text: "running", Count: 1},
		{Seq: 44, Metric: "flame_temp", Unit: "degC", Time: t0, Value: math.NaN(), Count: 1},
	}}
}

const wantLines = `{"seq":41,"time":"2026-03-01T12:00:00.5Z","metric":"rpm","value":812.5,"unit":"rpm","quality":"GOOD","batch":7}
{"seq":42,"time":"2026-03-01T12:00:00.5Z","metric":"hot_cylinder_temp","value":151.25,"unit":"degC","quality":"UNCERTAIN","batch":7,"count":8,"min":150,"max":152.5,"last":151}
{"seq":43,"time":"2026-03-01T12:00:00.5Z","metric":"engine_state","value":0,"quality":"GOOD","text":"running","batch":7}
`

func TestStdout(t *testing.T) {
	var out bytes.Buffer
	p := NewStdout(&out, "")
	b := sampleBatch()
	res := make([]Result, len(b.Readings))
	if err := p.Send(context.Background(), b, res); err != nil {
		t.Fatal(err)
	}
	if out.String() != wantLines {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), wantLines)
	}
	want := []Status{Accepted, Accepted, Accepted, Rejected}
	for i := range res {
		if res[i].Status != want[i] {
			t.Fatalf("result %d = %v (%s), want %v", i, res[i].Status, res[i].Reason, want[i])
		}
	}
	if p.Name() != "stdout" {
		t.Fatalf("Name = %q", p.Name())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestStdoutWriteErrorLeavesRetry(t *testing.T) {
	b := sampleBatch()
	res := make([]Result, len(b.Readings))
	err := NewStdout(failWriter{}, "console").Send(context.Background(), b, res)
	if err == nil || !strings.Contains(err.Error(), "publish: console: write") {
		t.Fatalf("err = %v", err)
	}
	if res[0].Status != Retry || res[3].Status != Rejected {
		t.Fatalf("results %+v", res)
	}
}

func TestFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "readings.jsonl")
	p, err := NewFile(&FileOpts{Path: path, MaxBytes: 600, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // ~450 bytes per batch: every batch after the first rotates
		b := sampleBatch()
		res := make([]Result, len(b.Readings))
		if err := p.Send(context.Background(), b, res); err != nil {
			t.Fatal(err)
		}
		if res[0].Status != Accepted {
			t.Fatalf("result %+v", res[0])
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + ".1", path + ".2"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != wantLines {
			t.Fatalf("%s holds\n%s", name, b)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatalf("%s.3 kept with Keep 2: %v", path, err)
	}
	if p.Name() != "file" {
		t.Fatalf("Name = %q", p.Name())
	}
	// Reopening appends.
	p, err = NewFile(&FileOpts{Path: path, MaxBytes: 1 << 20, Name: "export"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := sampleBatch()
	if err := p.Send(context.Background(), b, make([]Result, len(b.Readings))); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != wantLines+wantLines {
		t.Fatalf("after reopen:\n%s", got)
	}
}
