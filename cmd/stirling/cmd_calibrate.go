package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stirling-iot/stirling/calibrate"
	"github.com/stirling-iot/stirling/internal/logging"
)

func cmdCalibrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "calibrate", "stirling calibrate [flags]", calibrate.Help)
	o := calibrate.DefaultOpts()
	o.Stdout, o.Stderr = e.stdout, e.stderr
	var sim bool
	var logLevel string
	fs.StringVar(&o.Config, "config", "", "agent config `FILE`: its rois_file is the file to save when no agent answers, its http.listen the default --agent")
	fs.StringVar(&o.Agent, "agent", calibrate.DefaultAgent, "`URL` of the running agent's status server, for frames")
	fs.StringVar(&o.Source, "source", o.Source, "frame source: auto (agent, else camera), agent, camera or sim")
	fs.BoolVar(&sim, "sim", false, "use the simulated camera (same as --source sim)")
	fs.StringVar(&o.I2CBus, "i2c-bus", o.I2CBus, "I2C bus of the camera, for --source camera (periph name: \"1\" is /dev/i2c-1)")
	fs.StringVar(&o.Listen, "listen", o.Listen, "`address` of the calibration page; a non-loopback address requires the printed token")
	fs.Var((*calibrate.HostList)(&o.AllowHosts), "allow-host", "another `NAME` (host or host:port) the page may be opened by, e.g. a DNS name or a NAT address; repeatable or comma-separated")
	fs.StringVar(&o.ROIsFile, "rois", "", "ROI `FILE` to read and write (default: the file the running agent reports, else the rois_file of --config)")
	fs.StringVar(&o.Owner, "owner", o.Owner, "`user:group` of the saved file; auto is ggc_user:ggc_group when root and that user exists; empty leaves it")
	fs.StringVar(&o.Component, "component", o.Component, "Greengrass component `name` for the printed configuration merge")
	fs.Var(o.Set, "roi", "set a region, `NAME=x,y,w,h` (hot_cylinder, cold_cylinder, flame); repeatable; saves without the page")
	fs.BoolVar(&o.Suggest, "suggest", false, "start from the suggested regions and save without the page")
	fs.BoolVar(&o.DryRun, "dry-run", false, "with --roi or --suggest: print and validate, do not save")
	fs.StringVar(&o.PNG, "png", "", "write a PNG snapshot with the regions to `FILE`")
	fs.BoolVar(&o.Terminal, "terminal", false, "draw the heat map with the regions in the terminal instead of serving the page")
	fs.BoolVar(&o.Once, "once", false, "with --terminal: draw one frame and exit")
	fs.DurationVar(&o.Refresh, "refresh", o.Refresh, "with --terminal: redraw interval")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("calibrate: unexpected argument %q (see --help)", fs.Arg(0))}
	}
	var err error
	if o.Logger, err = logging.New(e.stderr, logLevel, logging.Text); err != nil {
		return &exitError{code: 2, err: err}
	}
	if sim {
		o.Source = calibrate.SourceSim
	}
	agentSet := false
	fs.Visit(func(fl *flag.Flag) { agentSet = agentSet || fl.Name == "agent" })
	if !agentSet {
		o.Agent = "" // --config's http.listen, else the default
	}
	err = calibrate.Run(ctx, o)
	if ue := (*calibrate.UsageError)(nil); errors.As(err, &ue) {
		return &exitError{code: 2, err: err}
	}
	return err
}
