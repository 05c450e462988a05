// Package stirling holds the release version of the agent: the VERSION
// file at the repository root, X.Y.Z, the one source of the component,
// recipe and binary versions when HEAD carries no vX.Y.Z tag (see
// scripts/version.sh and internal/version).
package stirling

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var versionFile string

// Version is the content of the VERSION file.
func Version() string { return strings.TrimSpace(versionFile) }
