// Package agent is the Stirling-engine edge agent itself: what `stirling
// run` runs. It turns a validated configuration into the running stages,
// sensors -> pipeline -> spool writer -> spool -> publisher runners, and
// owns what lies between them:
//
//   - supervision: the thermal camera is (re)opened with backoff after it
//     fails to open or fails several frames in a row, and the tachometer is
//     restarted when its edge source fails;
//   - the shutdown order: sensors first, then the pipeline closes its open
//     window into the spool, the spool is synced, and then the publishers
//     drain: each delivers everything spooled and stops, or stops at its
//     first failed attempt (the rest stays in the spool), all inside the
//     budget Greengrass allows after SIGTERM (exit within 4 s);
//   - counters folded across camera re-opens, and the status page
//     (internal/status) with /metrics, /livez and /healthz;
//   - the start gate (CheckStart), shared with `stirling config check`;
//   - the Greengrass component configuration: read over IPC at start
//     (LoadConfig) and applied live on each deployment change;
//   - the wiring that converts the plain configs structs into each
//     component's Opts (opts.go), so that configs stays a leaf.
//
// The name is the one DESIGN.md gives the package: it is the agent, the
// long-running process, as opposed to the tools beside it in the same
// binary (calibrate, thermal, recipe, spool). It is internal because its
// API is the command line and the configuration file, not Go.
//
//	a, err := agent.New(ctx, cfg, &opts)
//	if err != nil { ... }
//	err = a.Run(ctx) // until ctx is done, --stop-after, or a fatal error
package agent
