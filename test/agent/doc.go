// Package agent holds process-level tests of `stirling run`: the real binary,
// built once per test run, started with a config in a temporary directory,
// observed through its logs, its status server (/api/status, /metrics,
// /healthz, /api/frame) and the files its publishers write, and stopped with
// real signals (SIGTERM, SIGINT, SIGKILL).
//
// What they cover:
//
//   - crash safety of the spool under repeated SIGKILL: no spooled reading
//     lost, duplicates only as whole batches at the start of a restart and
//     only ones written within one sync interval before the kill;
//   - the size limit: drop-oldest counted and logged, the agent keeps
//     running and healthy;
//   - a corrupted segment byte: skipped, counted, the rest delivered;
//   - broken configs: one line per problem with its line number, exit 1;
//   - the simulator's camera and GPIO faults end to end: readings missing
//     or not GOOD, counters on /metrics, recovery afterwards;
//   - the lifecycle Greengrass relies on: a fatal error exits 1, SIGTERM
//     flushes and exits 0 within 4 s, a missing IPC socket falls back to the
//     config file, a device the user may not open names the missing group
//     and the usermod command;
//   - the agent as a Greengrass component against internal/testsrv/ipctest: the
//     configuration over IPC, RUNNING, PublishToIoTCore on the thing's
//     topic, live deployment changes (applied or refused), and the recipe's
//     rendered DefaultConfiguration;
//   - the status endpoints (valid Prometheus text) and ROI file reloads;
//   - a siege of the status port (1,000 idle clients, event streams over the
//     cap): refused and counted, while readings and spool appends keep
//     their rate.
//
// Run them with
//
//	go test ./test/agent/ -v
//
// The permission test runs the agent as user nobody in a private mount
// namespace (unshare, setpriv), so it needs root with CAP_SYS_ADMIN; without
// root it is skipped, except under CI=true where it fails.
package agent
