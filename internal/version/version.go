// Package version holds the build identity stamped in with -ldflags -X.
package version

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/stirling-iot/stirling"
)

// Stamped at link time by the Makefile and scripts/package.sh:
//
//	-X github.com/stirling-iot/stirling/internal/version.Version=X.Y.Z
//
// Version empty (a plain go build or go test) means the VERSION file
// built into the binary.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)

// Semver is the binary's version as X.Y.Z: the stamped Version (a leading
// v dropped) or, unstamped, the repository's VERSION file. It is the
// component version `stirling recipe` renders by default.
func Semver() string {
	if v := strings.TrimPrefix(Version, "v"); v != "" {
		return v
	}
	return stirling.Version()
}

// Valid reports whether v is X.Y.Z, as Greengrass needs.
func Valid(v string) bool { return semverRE.MatchString(v) }

// String is the one-line identity printed by `stirling version` and logged at startup.
func String() string {
	commit, date := vcs()
	return fmt.Sprintf("stirling %s (commit %s, built %s, %s %s/%s)",
		Semver(), commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Revision is the commit the binary was built from ("unknown" when not known).
func Revision() string {
	commit, _ := vcs()
	return commit
}

// vcs is the commit and the build date: the -X values, else the Go
// toolchain's VCS stamp, else "unknown".
func vcs() (commit, date string) {
	commit, date = Commit, Date
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
	return commit, date
}
