package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/logging"
	"github.com/stirling-iot/stirling/internal/version"
	"github.com/stirling-iot/stirling/publish/greengrass"
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

// shutdownBudget is how long the agent may take to stop after SIGTERM.
// Greengrass sends SIGKILL 5 s after SIGTERM; we stay well inside that.
const shutdownBudget = 3500 * time.Millisecond

// greengrassConfig is the --config value the recipe passes: read the
// component configuration over IPC.
const greengrassConfig = "greengrass:configuration"

type runFlags struct {
	config    string
	logLevel  string
	logFormat string
	listen    string
	stopAfter time.Duration
	speedup   float64
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
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "stirling run: unexpected argument %q\n", fs.Arg(0))
		return &exitError{code: 2, err: errUsageShown}
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
	var gg *greengrass.Client
	cfg, gg, err := loadRunConfig(ctx, f.config, log)
	if err == nil {
		err = checkStart(cfg, nil) // the same gate as `stirling config check`
	}
	if err != nil {
		if gg != nil {
			gg.Close()
		}
		return err
	}
	if gg != nil {
		defer gg.Close()
	}
	f.applyListen(cfg)
	if f.speedup > 0 {
		cfg.Sensors.Sim.Speedup = f.speedup
	}

	// Live configuration: a valid deployment change restarts the agent's
	// stages in process (the spool keeps everything across the restart).
	reload := make(chan *configs.Config, 1)
	if gg != nil {
		go watchGreengrassConfig(ctx, gg, cfg, reload, log)
	}
	for {
		a, err := newAgent(cfg, e, gg, log)
		if err != nil {
			return err
		}
		next, err := a.run(ctx, f.stopAfter, reload)
		if err != nil {
			return err
		}
		if next == nil {
			log.Info("stopped")
			return nil
		}
		log.Info("configuration changed: restarting the agent's stages", "source", next.Source)
		cfg = next
		f.applyListen(cfg)
	}
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

// loadRunConfig reads the configuration from Greengrass IPC when the agent
// runs as a component, and from the file otherwise (or when IPC fails).
func loadRunConfig(ctx context.Context, path string, log *slog.Logger) (*configs.Config, *greengrass.Client, error) {
	sock := os.Getenv(greengrass.EnvSocket)
	if path == greengrassConfig {
		// The recipe's Run step asks for the component configuration; outside
		// Greengrass the shipped Pi config stands in for it.
		path = configs.EmbeddedPrefix + "agent.yaml"
	}
	if sock == "" {
		log.Info("not running under Greengrass (no IPC socket in the environment): using the config file", "config", path, "env", greengrass.EnvSocket)
		cfg, err := configs.Load(path)
		return cfg, nil, err
	}
	// Without the nucleus now, the configuration comes from the file and
	// the IPC client keeps connecting in the background: the greengrass
	// publisher stays configured (failing, its readings in the spool) and
	// delivers once the nucleus answers; the configuration watch then
	// applies the deployment's configuration.
	later := func() (*configs.Config, *greengrass.Client, error) {
		cfg, err := configs.Load(path)
		if err != nil {
			return nil, nil, err
		}
		gg, err := greengrass.Connect(&greengrass.Opts{Logger: log})
		if err != nil {
			log.Error("no Greengrass IPC client", "err", err)
			return cfg, nil, nil
		}
		return cfg, gg, nil
	}
	if _, err := os.Stat(sock); err != nil {
		log.Warn("Greengrass IPC socket is missing: using the config file; connecting to the nucleus in the background", "socket", sock, "config", path, "err", err)
		return later()
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gg, err := greengrass.Dial(dctx, &greengrass.Opts{Logger: log})
	if err != nil {
		log.Warn("cannot connect to the Greengrass nucleus: using the config file; connecting in the background", "socket", sock, "config", path, "err", err)
		return later()
	}
	m, err := gg.GetConfiguration(dctx, nil)
	if err != nil || len(m) == 0 {
		log.Warn("no component configuration from Greengrass: using the config file", "config", path, "err", err)
		cfg, err := configs.Load(path)
		return cfg, gg, err
	}
	cfg, err := configFromGreengrass(m)
	if err != nil {
		gg.Close()
		return nil, nil, err
	}
	log.Info("configuration read from Greengrass IPC")
	return cfg, gg, nil
}

// configFromGreengrass applies a component configuration document. The
// recipe's DefaultConfiguration mirrors the YAML file plus two keys of its
// own: accessControl (read by the nucleus) and rois (the regions, which in a
// file setup live in their own file).
func configFromGreengrass(m map[string]any) (*configs.Config, error) {
	m = maps.Clone(m)
	delete(m, "accessControl")
	rois, hasROIs := m["rois"]
	delete(m, "rois")
	cfg, err := configs.FromMap(m)
	if err != nil {
		return nil, err
	}
	cfg.Source = "greengrass:configuration"
	if hasROIs {
		b, err := yaml.Marshal(rois)
		if err != nil {
			return nil, fmt.Errorf("greengrass configuration: rois: %w", err)
		}
		r, err := configs.ParseROIs("greengrass:configuration/rois", b)
		if err != nil {
			return nil, err
		}
		cfg.ROIs, cfg.ROIsDefaulted = *r, false
	}
	return cfg, nil
}

func watchGreengrassConfig(ctx context.Context, gg *greengrass.Client, cur *configs.Config, reload chan *configs.Config, log *slog.Logger) {
	log = log.With("component", "greengrass-config")
	last, _ := yaml.Marshal(cur)
	err := gg.WatchConfiguration(ctx, nil, func(m map[string]any) error {
		cfg, err := configFromGreengrass(m)
		if err == nil {
			err = checkStart(cfg, nil)
		}
		if err != nil {
			log.Error("deployment configuration rejected: keeping the running one", "err", err)
			return err
		}
		b, _ := yaml.Marshal(cfg)
		if string(b) == string(last) && cfg.ROIs == cur.ROIs {
			return nil // the configuration the agent already runs
		}
		last, cur = b, cfg
		select {
		case reload <- cfg:
		default:
			// A reload is already pending: replace it with the newer one.
			select {
			case <-reload:
			default:
			}
			reload <- cfg
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("configuration watch ended", "err", err)
	}
}
