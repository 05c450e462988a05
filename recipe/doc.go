// Package recipe models, renders and validates the AWS IoT Greengrass V2
// component recipe of the stirling agent.
//
// Render builds the recipe from an agent configuration: format 2020-01-25,
// one manifest per Raspberry Pi architecture as the nucleus reports it
// (aarch64 for a 64-bit JVM, arm for a 32-bit one), a Run step that execs
// the static binary as the component user, the agent's configuration as
// DefaultConfiguration, least-privilege accessControl (PublishToIoTCore on
// the agent's own topic space only), a HARD dependency on the
// TokenExchangeService only when a SiteWise publisher is configured, and a
// SOFT dependency on the nucleus.
//
// Validate checks any recipe against the documented rules and reports every
// problem with its path in the document, e.g.
//
//	Manifests[0].Platform.architecture: "arm64" is not a value the nucleus reports; use aarch64
package recipe
