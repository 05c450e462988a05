// Package logging builds the agent's one slog.Logger. Greengrass captures
// stderr and stdout into its own log files, so the agent only writes to a
// stream and never manages log files itself.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Format is the log line format.
type Format string

// Formats.
const (
	Text Format = "text"
	JSON Format = "json"
)

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") and format ("text" or "json").
func New(w io.Writer, level string, format Format) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("logging: level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case Text, "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case JSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("logging: format %q: want text or json", format)
}
