//go:build linux

package tachometer

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// The real line needs a Raspberry Pi; here only the failure paths run.
func TestOpenChardevErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		opts ChardevOpts
		want func(error) bool
	}{
		{"small buffer", ChardevOpts{EventBuffer: 16}, func(err error) bool { return errors.Is(err, ErrOpts) }},
		{"large buffer", ChardevOpts{EventBuffer: 4096}, func(err error) bool { return errors.Is(err, ErrOpts) }},
		{"missing device", ChardevOpts{Chip: "/dev/gpiochip-missing", Line: "4"}, func(err error) bool {
			return errors.Is(err, os.ErrNotExist) && strings.Contains(err.Error(), "group gpio")
		}},
		{"bad line name", ChardevOpts{Chip: "no-such-chip", Line: "GPIO99"}, func(err error) bool { return errors.Is(err, ErrNotFound) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenChardev(ctx, &tt.opts)
			if err == nil {
				c.Close()
				t.Log("this machine has the GPIO line: nothing to check")
				return
			}
			if !tt.want(err) {
				t.Errorf("error %v", err)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := OpenChardev(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
