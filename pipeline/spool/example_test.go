package spool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/stirling-iot/stirling/pipeline/spool"
)

// A producer appends opaque records; a consumer reads them in order through
// its own cursor and acknowledges what its destination accepted. After a
// restart the cursor resumes after the last acknowledged record.
func Example() {
	dir, err := os.MkdirTemp("", "spool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	opts := spool.DefaultOpts()
	opts.Cursors = []string{"mqtt"} // every consumer, before the first Append
	s, err := spool.Open(dir, opts, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []string{"first", "second", "third"} {
		if _, err := s.Append([]byte(p)); err != nil {
			log.Fatal(err)
		}
	}
	// Cursors see synced records only; Sync makes them visible now instead
	// of within Opts.SyncInterval (Run does it in the agent).
	if err := s.Sync(); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.Cursor("mqtt")
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		r, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("delivered %d: %s\n", r.Seq, r.Payload)
		c.Ack(r.Seq) // the destination acknowledged it
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	// After a restart, "mqtt" gets the record it never acknowledged.
	s, err = spool.Open(dir, opts, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	c, err = s.Cursor("mqtt")
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after the restart %d: %s\n", r.Seq, r.Payload)
	// Output:
	// delivered 1: first
	// delivered 2: second
	// after the restart 3: third
}
