package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/agent"
	"github.com/stirling-iot/stirling/internal/logging"
	"github.com/stirling-iot/stirling/internal/version"
)

const runDescription = `Run the agent: read the thermal camera and the tachometer (or the simulated
engine), turn them into validated, filtered, per-window readings, keep them in
the crash-safe disk spool, and deliver them to every configured publisher.

Configuration:
  Inside Greengrass (AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT set) the
  component's configuration is read over IPC and deployment changes apply live.
  Outside Greengrass, or when the IPC socket is missing, --config is used.

Output:
  Logs go to stderr. The stdout publisher writes readings as JSON lines to
  stdout. The status page, /metrics, /livez, /healthz and /api/frame are
  served on http.listen (default http://127.0.0.1:8080/; listen: "" in the
  config, or --http off, turns the server off).

Signals:
  SIGTERM or Ctrl-C stops the sensors, closes the open window into the spool,
  syncs it and exits 0 within 4 s. A fatal error exits 1 so Greengrass restarts
  the component.

Examples:
  stirling run --config configs/sim.yaml
  stirling run --config /etc/stirling/agent.yaml --log-format json`

type runFlags struct {
	config    string
	logLevel  string
	logFormat string
	listen    string
	stopAfter time.Duration
	speedup   float64
	cpuprof   string
}

func cmdRun(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "run", "stirling run [flags]", runDescription)
	var f runFlags
	fs.StringVar(&f.config, "config", configs.EmbeddedPrefix+"agent.yaml", "config `file`: a path, \"embedded:sim.yaml\" or \"embedded:agent.yaml\" (the shipped ones), or \"greengrass:configuration\" (over IPC, falling back to embedded:agent.yaml)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&f.listen, "http", "", "status page listen `address`, overriding http.listen (\"off\" disables it)")
	fs.DurationVar(&f.stopAfter, "stop-after", 0, "stop cleanly after this much sensor `time` (0: run until signalled); for demos and tests")
	fs.Float64Var(&f.speedup, "speedup", 0, "simulated engine: run this many `times` faster than real time, overriding sensors.sim.speedup")
	fs.StringVar(&f.cpuprof, "cpuprofile", "", "write a CPU profile (runtime/pprof) of the whole run to this `file`; for measuring, off by default")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "stirling run: unexpected argument %q\n", fs.Arg(0))
		return &exitError{code: 2, err: errUsageShown}
	}
	if f.cpuprof != "" {
		stop, err := startCPUProfile(f.cpuprof)
		if err != nil {
			return err
		}
		defer stop()
	}
	log, err := logging.New(e.stderr, f.logLevel, logging.Format(f.logFormat))
	if err != nil {
		return err
	}
	log.Info("starting", "version", version.String(), "pid", os.Getpid())
	if os.Geteuid() == 0 {
		log.Warn("running as root: the agent is meant to run as an unprivileged user (ggc_user in groups gpio and i2c); only `stirling calibrate` needs root")
	}

	// Greengrass: the configuration comes over IPC when the socket exists.
	cfg, gg, err := agent.LoadConfig(ctx, f.config, log)
	if gg != nil {
		defer gg.Close()
	}
	if err != nil {
		return err
	}
	f.applyListen(cfg)
	if f.speedup > 0 {
		cfg.Sensors.Sim.Speedup = f.speedup
	}
	// New runs the same start gate as `stirling config check`.
	a, err := agent.New(ctx, cfg, &agent.Opts{
		Logger: log, Stdout: e.stdout, Stderr: e.stderr, Greengrass: gg,
		StopAfter: f.stopAfter, Reconfigure: f.applyListen,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// applyListen lets --http override http.listen; "off" means the empty
// address, which turns the status server off.
func (f *runFlags) applyListen(cfg *configs.Config) {
	switch f.listen {
	case "":
	case "off":
		cfg.HTTP.Listen = ""
	default:
		cfg.HTTP.Listen = f.listen
	}
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = out.Close()
	}, nil
}
