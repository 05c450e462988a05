package recipe

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// FormatVersion is the only recipe format the nucleus knows.
const FormatVersion = "2020-01-25"

// Recipe is a Greengrass V2 component recipe. Field order is the order of
// the rendered document.
type Recipe struct {
	RecipeFormatVersion    Quoted                `yaml:"RecipeFormatVersion"`
	ComponentName          string                `yaml:"ComponentName"`
	ComponentVersion       Quoted                `yaml:"ComponentVersion"`
	ComponentDescription   string                `yaml:"ComponentDescription,omitempty"`
	ComponentPublisher     string                `yaml:"ComponentPublisher"`
	ComponentConfiguration *Configuration        `yaml:"ComponentConfiguration,omitempty"`
	ComponentDependencies  map[string]Dependency `yaml:"ComponentDependencies,omitempty"`
	Manifests              []Manifest            `yaml:"Manifests"`
}

// Configuration holds the component's default configuration: what the
// component reads with GetConfiguration, plus the accessControl policies
// the nucleus enforces on its IPC calls.
type Configuration struct {
	DefaultConfiguration map[string]any `yaml:"DefaultConfiguration"`
}

// Dependency types.
const (
	Hard = "HARD" // the component restarts when the dependency changes state
	Soft = "SOFT" // documents a requirement without coupling lifecycles
)

// Dependency is one entry of ComponentDependencies.
type Dependency struct {
	// VersionRequirement is an npm-style semver range, e.g. ">=2.6.0 <3.0.0".
	VersionRequirement Quoted `yaml:"VersionRequirement"`
	// DependencyType is Hard (the nucleus default) or Soft.
	DependencyType string `yaml:"DependencyType,omitempty"`
}

// Manifest is the lifecycle and artifacts for one platform. The nucleus
// uses the first manifest whose Platform matches the device.
type Manifest struct {
	Name      string     `yaml:"Name,omitempty"`
	Platform  Platform   `yaml:"Platform"`
	Lifecycle Lifecycle  `yaml:"Lifecycle"`
	Artifacts []Artifact `yaml:"Artifacts,omitempty"`
}

// Platform selects devices. Values are exact strings, "*" or a /regex/.
type Platform struct {
	OS           string `yaml:"os,omitempty"`
	Architecture string `yaml:"architecture,omitempty"`
	// ArchitectureDetail is uname -m, reported by the nucleus only for
	// armv6l, armv7l, armv8l (and the big-endian b variants).
	ArchitectureDetail string `yaml:"architecture.detail,omitempty"`
}

// Lifecycle is a manifest's lifecycle. Only the steps stirling uses are
// modelled; Validate checks any recipe.
type Lifecycle struct {
	Setenv   map[string]string `yaml:"Setenv,omitempty"`
	Install  *Step             `yaml:"Install,omitempty"`
	Run      *Step             `yaml:"Run,omitempty"`
	Shutdown *Step             `yaml:"Shutdown,omitempty"`
}

// Step is one lifecycle step.
type Step struct {
	Script            string `yaml:"Script"`
	RequiresPrivilege bool   `yaml:"RequiresPrivilege"`
	// Timeout in seconds; 0 leaves the nucleus default.
	Timeout int               `yaml:"Timeout,omitempty"`
	Setenv  map[string]string `yaml:"Setenv,omitempty"`
}

// Permission values for artifacts.
const (
	PermNone  = "NONE"
	PermOwner = "OWNER"
	PermAll   = "ALL"
)

// Artifact is a file the nucleus downloads into {artifacts:path}. Digest
// and Algorithm are computed by the service at CreateComponentVersion and
// are deliberately absent.
type Artifact struct {
	URI        string     `yaml:"URI"`
	Unarchive  string     `yaml:"Unarchive,omitempty"`
	Permission Permission `yaml:"Permission"`
}

// Permission is the file mode the nucleus gives an artifact.
type Permission struct {
	Read    string `yaml:"Read"`
	Execute string `yaml:"Execute"`
}

// Marshal renders the recipe as YAML with a leading comment.
func (r *Recipe) Marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Greengrass V2 recipe for %s %s, rendered by `stirling recipe`.\n", r.ComponentName, r.ComponentVersion)
	b.WriteString("# Check it with `stirling recipe validate FILE`; do not add Digest fields (the service computes them).\n")
	b.WriteString("---\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("recipe: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("recipe: encode: %w", err)
	}
	return b.Bytes(), nil
}

// Quoted is a string always written in single quotes, as the Greengrass
// documentation writes versions ('2020-01-25', '1.0.0'): unquoted, a YAML
// reader may take them for a date or a number.
type Quoted string

// MarshalYAML writes q single-quoted.
func (q Quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.SingleQuotedStyle, Value: string(q)}, nil
}
