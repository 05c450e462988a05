// Package agent holds process-level tests of `stirling run`: the real binary,
// built once per test run, started with a config in a temporary directory,
// observed through its logs, its status server (/api/status, /metrics,
// /healthz) and the files its publishers write, and stopped with real
// signals (SIGTERM, SIGKILL).
//
// What they cover: crash safety of the spool under repeated SIGKILL (no
// acknowledged reading lost, duplicates only in the unacknowledged window),
// the size limit (drop-oldest counted and logged, the agent keeps running),
// a corrupted segment byte (skipped, counted, the rest delivered), broken
// configs (one line per problem with its line number, non-zero exit), the
// simulator's sensor faults end to end (BAD or missing readings with
// counters, then recovery), and the lifecycle Greengrass relies on: a fatal
// error exits non-zero, SIGTERM flushes and exits 0 within 4 s, a missing
// IPC socket falls back to the config file, and a device the user may not
// open names the missing group and the usermod command.
//
// Run them with
//
//	go test ./test/agent/ -v
//
// The package needs root for the permission test (it runs the agent as
// user nobody); without root that test is skipped, except under CI=true
// where it fails.
package agent
