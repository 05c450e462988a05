package agent

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
	"github.com/stirling-iot/stirling/publish/greengrass"
)

// GreengrassConfig is the --config value the recipe passes: read the
// component configuration over IPC.
const GreengrassConfig = "greengrass:configuration"

// LoadConfig reads the configuration from Greengrass IPC when the agent
// runs as a component, and from the file at path otherwise (or when IPC
// fails). path GreengrassConfig (what the recipe passes) stands for the
// component configuration, with the shipped embedded:agent.yaml outside
// Greengrass. The client, when not nil, is for Opts.Greengrass; the caller
// closes it.
func LoadConfig(ctx context.Context, path string, log *slog.Logger) (*configs.Config, *greengrass.Client, error) {
	sock := os.Getenv(greengrass.EnvSocket)
	if path == GreengrassConfig {
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
			err = CheckStart(cfg, nil)
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
