package publish_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
)

// console is a Publisher that prints readings and rejects, for good, the
// ones its destination could never take: a negative speed.
type console struct{}

var _ publish.Publisher = console{}

func (console) Name() string { return "console" }
func (console) Close() error { return nil }

func (console) Send(ctx context.Context, b *pipeline.Batch, res []publish.Result) error {
	if err := ctx.Err(); err != nil {
		return err // nothing sent: every reading stays Retry
	}
	for i, r := range b.Readings {
		if r.Metric == "rpm" && r.Value < 0 {
			res[i] = publish.Result{Status: publish.Rejected, Reason: "negative speed"}
			continue
		}
		fmt.Printf("%s %g %s\n", r.Metric, r.Value, r.Unit)
		res[i] = publish.Result{Status: publish.Accepted} // after the destination's acknowledgement
	}
	return nil
}

// A publisher fills one Result per reading; readings it leaves at the zero
// value (Retry) are sent again, Rejected ones go to the quarantine.
func ExamplePublisher() {
	b := &pipeline.Batch{ID: 1, Readings: []pipeline.Reading{
		{Seq: 1, Metric: "rpm", Unit: "rpm", Value: 812.5},
		{Seq: 2, Metric: "rpm", Unit: "rpm", Value: -3},
	}}
	res := make([]publish.Result, len(b.Readings))
	if err := (console{}).Send(context.Background(), b, res); err != nil {
		log.Fatal(err)
	}
	for i, r := range res {
		fmt.Printf("reading %d: %s", b.Readings[i].Seq, r.Status)
		if r.Reason != "" {
			fmt.Printf(" (%s)", r.Reason)
		}
		fmt.Println()
	}
	// Output:
	// rpm 812.5 rpm
	// reading 1: accepted
	// reading 2: rejected (negative speed)
}

// A Runner delivers a spool cursor's records to one publisher, retrying
// with backoff, and acknowledges each record once every reading in it was
// accepted or rejected. Here the stdout publisher prints the readings of a
// batch spooled before the runner starts.
func ExampleRunner() {
	dir, err := os.MkdirTemp("", "publish-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts := spool.DefaultOpts()
	opts.Cursors = []string{"stdout"}
	sp, err := spool.Open(dir, opts, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sp.Close()

	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	b := pipeline.Batch{Readings: []pipeline.Reading{
		{Seq: 1, Metric: "rpm", Unit: "rpm", Time: t0, Value: 812.5, Count: 1},
		{Seq: 2, Metric: "hot_cylinder_mean", Unit: "degC", Time: t0, Value: 180.25, Count: 1},
	}}
	payload, err := b.AppendBinary(nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sp.Append(payload); err != nil {
		log.Fatal(err)
	}
	if err := sp.Sync(); err != nil {
		log.Fatal(err)
	}

	cur, err := sp.Cursor("stdout")
	if err != nil {
		log.Fatal(err)
	}
	ro := publish.DefaultRunnerOpts()
	r := publish.NewRunner(publish.NewStdout(os.Stdout, ""), cur, sp, &ro)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for r.Stats().Batches < 1 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	st := r.Stats()
	fmt.Printf("%s: %d readings delivered, %d records waiting\n", st.Name, st.Delivered, st.LagRecords)
	// Output:
	// {"seq":1,"time":"2026-01-01T00:00:01Z","metric":"rpm","value":812.5,"unit":"rpm","quality":"GOOD","batch":1}
	// {"seq":2,"time":"2026-01-01T00:00:01Z","metric":"hot_cylinder_mean","value":180.25,"unit":"degC","quality":"GOOD","batch":1}
	// stdout: 2 readings delivered, 0 records waiting
}
