// Package version holds the build identity stamped in with -ldflags -X.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped at link time by the Makefile:
//
//	-X github.com/stirling-iot/stirling/internal/version.Version=...
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// String is the one-line identity printed by `stirling version` and logged at startup.
func String() string {
	commit, date := Commit, Date
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					commit = s.Value
				case "vcs.time":
					if date == "" {
						date = s.Value
					}
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("stirling %s (commit %s, built %s, %s %s/%s)",
		Version, commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
