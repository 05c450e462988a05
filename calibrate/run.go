package calibrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/recipe"
	"github.com/stirling-iot/stirling/sensors"
)

// The frame sources of Opts.Source.
const (
	SourceAuto   = "auto"   // the running agent, else the camera
	SourceAgent  = "agent"  // the running agent's status server only
	SourceCamera = "camera" // the camera on Opts.I2CBus
	SourceSim    = "sim"    // the simulated camera
)

// DefaultAgent is the status server of an agent run with the shipped
// configuration.
const DefaultAgent = "http://127.0.0.1:8080"

// ErrNoROIsFile means calibrate does not know which file to save: no
// Opts.ROIsFile, no agent reporting its file, no Opts.Config.
var ErrNoROIsFile = errors.New("calibrate: no ROI file to save to")

// A UsageError is a mistake in the options, not in what they point to
// (a command line exits with status 2 on it).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Opts configure Run, the `stirling calibrate` command: which frames, which
// file, and which of the page, the terminal or a headless save.
type Opts struct {
	// Config is the agent's configuration file: its rois_file is the file
	// to save when no agent reports one, its http.listen the agent when
	// Agent is empty.
	Config string
	// Agent is the URL of the running agent's status server; empty means
	// Config's http.listen, else DefaultAgent.
	Agent string
	// Source is SourceAuto, SourceAgent, SourceCamera or SourceSim.
	Source string
	// I2CBus is the camera's bus (periph name) for SourceCamera and auto.
	I2CBus string
	// Listen is the page's address; one other machines can reach requires
	// a one-time token. AllowHosts are further names the page answers to.
	Listen     string
	AllowHosts []string
	// ROIsFile is the file to read and write; empty means the file the
	// agent reports, else Config's rois_file.
	ROIsFile string
	// Owner of the saved file ("user:group"); "auto" means DefaultOwner().
	Owner string
	// Component names the Greengrass component in the printed
	// configuration merge.
	Component string
	// Set regions (--roi) are saved without the page, over the file's.
	Set ROIFlags
	// Suggest starts from the suggested regions and saves without the page.
	Suggest bool
	// DryRun, with Set or Suggest, validates and prints but saves nothing.
	DryRun bool
	// PNG, when set, is written with a snapshot and the regions.
	PNG string
	// Terminal draws the heat map in the terminal every Refresh (Once:
	// one frame) instead of serving the page.
	Terminal, Once bool
	Refresh        time.Duration
	// Stdout receives what the user reads; Stderr the warnings.
	Stdout, Stderr io.Writer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultOpts are the options of a bare `stirling calibrate`: the page on
// loopback, frames from the agent or else the camera.
func DefaultOpts() *Opts {
	return &Opts{
		Source:    SourceAuto,
		I2CBus:    "1",
		Listen:    "127.0.0.1:8088",
		Owner:     "auto",
		Component: recipe.DefaultName,
		Set:       ROIFlags{},
		Refresh:   time.Second,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
	}
}

// command is one run of Run.
type command struct {
	o Opts
	// cfgROIs is the rois_file of Config (absolute), empty without one;
	// cfgErr says why Config gives no file to write.
	cfgROIs string
	cfgErr  error
	// roisFrom says where o.ROIsFile came from, for the messages.
	roisFrom string
}

// Run is `stirling calibrate`: it resolves the file to save (never a
// guessed path), opens the frame source and runs the page until ctx is
// done, or the terminal view, or a headless save of Set or Suggest.
func Run(ctx context.Context, o *Opts) error {
	c := &command{o: *o}
	if c.o.Logger == nil {
		c.o.Logger = slog.Default()
	}
	if c.o.Set == nil {
		c.o.Set = ROIFlags{}
	}
	if err := c.resolve(); err != nil {
		return err
	}
	f := &c.o
	saves := !f.DryRun && (len(f.Set) > 0 || f.Suggest || (!f.Terminal && f.PNG == ""))
	if err := c.target(ctx, saves); err != nil {
		return err
	}
	initial, fromFile := c.initialROIs()
	if len(f.Set) > 0 && !f.Suggest && f.PNG == "" && !f.Terminal {
		// Regions given in full on the command line: no frames needed.
		return c.headless(ctx, nil, initial)
	}
	src, initial, closeSrc, err := c.openFrameSource(ctx, initial, fromFile)
	if err != nil {
		return err
	}
	defer closeSrc()
	if len(f.Set) > 0 || f.Suggest || f.PNG != "" || f.Terminal {
		return c.headless(ctx, src, initial)
	}
	return c.web(ctx, src, initial)
}

// initialROIs are the regions to start from: the ROI file if it exists and
// is valid, else the shipped defaults.
func (c *command) initialROIs() (sensors.ROIs, bool) {
	if c.o.ROIsFile == "" {
		return configs.DefaultROIs(), false
	}
	r, err := LoadROIs(c.o.ROIsFile)
	if err == nil {
		return r, true
	}
	// Not there yet, or not readable without root (the work directory is
	// the component user's): start from the agent's or the shipped regions.
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
		fmt.Fprintf(c.o.Stderr, "calibrate: ignoring the current ROI file: %v\n", err)
	}
	return configs.DefaultROIs(), false
}

// resolve fills the defaults that depend on Config.
func (c *command) resolve() error {
	f := &c.o
	agent := f.Agent
	if f.Config != "" {
		cfg, err := configs.Load(f.Config)
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		if strings.HasPrefix(cfg.ROIsPath, configs.EmbeddedPrefix) {
			c.cfgErr = fmt.Errorf("%s uses the ROI file shipped inside the binary (%s), which cannot be rewritten", f.Config, cfg.ROIsPath)
		} else if abs, err := filepath.Abs(cfg.ROIsPath); err == nil {
			c.cfgROIs = abs
		} else {
			c.cfgErr = fmt.Errorf("%s: rois_file: %w", f.Config, err)
		}
		if agent == "" && cfg.HTTP.Listen != "" {
			agent = "http://" + cfg.HTTP.Listen
		}
	}
	if agent == "" {
		agent = DefaultAgent
	}
	f.Agent = agent
	if f.ROIsFile != "" {
		abs, err := filepath.Abs(f.ROIsFile)
		if err != nil {
			return &UsageError{fmt.Errorf("calibrate: --rois %q: %w", f.ROIsFile, err)}
		}
		f.ROIsFile, c.roisFrom = abs, "--rois"
	}
	if f.Owner == "auto" {
		f.Owner = DefaultOwner()
	}
	switch f.Source {
	case SourceAuto, SourceAgent, SourceCamera, SourceSim:
	default:
		return &UsageError{fmt.Errorf("calibrate: --source %q: want auto, agent, camera or sim", f.Source)}
	}
	if f.DryRun && len(f.Set) == 0 && !f.Suggest {
		fmt.Fprintln(f.Stderr, "calibrate: --dry-run only matters with --roi or --suggest")
	}
	return nil
}

// target picks the file to save when ROIsFile did not: the file the
// running agent reports, else the rois_file of Config. When the regions
// will be saved (must), not finding one is an error naming both options;
// otherwise ROIsFile stays empty and nothing is read from or written to a
// file.
func (c *command) target(ctx context.Context, must bool) error {
	f := &c.o
	if f.ROIsFile != "" {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	agentFile, reported, err := AgentROIsFile(actx, f.Agent, &http.Client{Timeout: 3 * time.Second})
	cancel()
	var why error
	switch {
	case err != nil:
		why = err
	case reported && agentFile != "":
		f.ROIsFile, c.roisFrom = agentFile, "the agent at "+f.Agent
		if c.cfgROIs != "" && c.cfgROIs != agentFile {
			fmt.Fprintf(f.Stderr, "calibrate: the agent at %s reads %s, not %s (the rois_file of %s): saving to the agent's; pass --rois to choose\n", f.Agent, agentFile, c.cfgROIs, f.Config)
		}
		return nil
	case reported:
		why = fmt.Errorf("the agent at %s reads the regions shipped inside the binary, not a file", f.Agent)
	default:
		why = fmt.Errorf("the agent at %s does not report its ROI file (an older version)", f.Agent)
	}
	if c.cfgROIs != "" {
		f.ROIsFile, c.roisFrom = c.cfgROIs, f.Config+" (rois_file)"
		return nil
	}
	if !must {
		return nil
	}
	cfgWhy := "no --config FILE given"
	if c.cfgErr != nil {
		cfgWhy = c.cfgErr.Error()
	}
	return &UsageError{fmt.Errorf("%w: %w; %s: pass --rois FILE, or --config FILE (the agent's config, whose rois_file is used)", ErrNoROIsFile, why, cfgWhy)}
}

// save writes r and returns the lines to show: where it went and the
// fleet configuration merge.
func (c *command) save(r sensors.ROIs) (string, error) {
	f := &c.o
	res, err := Save(f.ROIsFile, r, &SaveOpts{Owner: f.Owner, Logger: f.Logger})
	if errors.Is(err, ErrUnsafePath) {
		return "", fmt.Errorf("%w (a component's work directory is trusted when --owner names the component's user:group)", err)
	}
	if err != nil {
		return "", err
	}
	merge, err := MergeConfig(f.Component, r)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s; the running agent picks it up without a restart.\n", res.Message())
	fmt.Fprintf(&b, "To roll the same regions out with Greengrass, use this configuration merge:\n%s\n", merge)
	fmt.Fprintf(&b, "e.g. sudo /greengrass/v2/bin/greengrass-cli deployment create --merge \"%s=VERSION\" --update-config '%s'", f.Component, merge)
	return b.String(), nil
}

func printROIs(w io.Writer, r sensors.ROIs) {
	for _, n := range r.Named() {
		fmt.Fprintf(w, "  %-14s %s\n", n.Name, n.ROI)
	}
}

// headless is the no-browser path: Set, Suggest, PNG, Terminal.
func (c *command) headless(ctx context.Context, src FrameSource, rois sensors.ROIs) error {
	f := &c.o
	out := f.Stdout
	var fr sensors.Frame
	if f.Suggest || f.PNG != "" || f.Terminal {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := src.Next(fctx, &fr)
		cancel()
		if err != nil {
			return fmt.Errorf("calibrate: first frame: %w", err)
		}
	}
	if f.Suggest {
		s, err := Suggest(&fr)
		if err != nil {
			return err
		}
		rois = s
	}
	f.Set.apply(&rois)
	if err := rois.Validate(); err != nil {
		fmt.Fprintln(out, "calibrate: regions:")
		printROIs(out, rois)
		return fmt.Errorf("calibrate: nothing saved: %w", err)
	}
	if f.PNG != "" {
		if err := writePNGFile(f.PNG, &fr, rois); err != nil {
			return err
		}
		fmt.Fprintf(out, "calibrate: wrote %s\n", f.PNG)
	}
	if len(f.Set) > 0 || f.Suggest {
		fmt.Fprintln(out, "calibrate: regions:")
		printROIs(out, rois)
		if f.DryRun {
			fmt.Fprintln(out, "calibrate: valid; not saved (--dry-run)")
		} else {
			fmt.Fprintf(out, "calibrate: saving to %s (from %s)\n", f.ROIsFile, c.roisFrom)
			msg, err := c.save(rois)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, msg)
		}
	}
	if !f.Terminal {
		return nil
	}
	for {
		if !f.Once {
			fmt.Fprint(out, "\x1b[H\x1b[2J")
		}
		if err := WriteTerminal(out, &fr, rois); err != nil {
			return err
		}
		if f.Once {
			return nil
		}
		fmt.Fprintf(out, "frame #%d  %s   (Ctrl-C to stop; set regions with --roi NAME=x,y,w,h)\n", fr.Seq, fr.Time.Format(time.TimeOnly))
		if f.ROIsFile != "" {
			fmt.Fprintf(out, "regions file %s (from %s)\n", f.ROIsFile, c.roisFrom)
		}
		wait, cancel := context.WithTimeout(ctx, f.Refresh)
		<-wait.Done()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err := src.Next(ctx, &fr); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("calibrate: %w", err)
		}
	}
}

func writePNGFile(path string, fr *sensors.Frame, r sensors.ROIs) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if err := WritePNG(out, fr, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	return nil
}

// web serves the calibration page until ctx is done.
func (c *command) web(ctx context.Context, src FrameSource, rois sensors.ROIs) error {
	f := &c.o
	host, _, err := net.SplitHostPort(f.Listen)
	if err != nil {
		return &UsageError{fmt.Errorf("calibrate: --listen %q: %w", f.Listen, err)}
	}
	var token string
	if !isLoopback(host) {
		if token, err = NewToken(); err != nil {
			return err
		}
	}
	srv := NewServer(&ServerOpts{
		Addr:       f.Listen,
		Token:      token,
		AllowHosts: f.AllowHosts,
		Source:     src,
		ROIs:       rois,
		File:       f.ROIsFile,
		Save: func(_ context.Context, r sensors.ROIs) (string, error) {
			msg, err := c.save(r)
			if err == nil {
				fmt.Fprintln(f.Stdout, msg)
			}
			return msg, err
		},
		Logger: f.Logger,
	})
	if err := srv.Listen(); err != nil {
		return err
	}
	shown := ""
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		shown, _ = os.Hostname()
	}
	fmt.Fprintf(f.Stdout, "calibrate: regions file %s (from %s)\n", f.ROIsFile, c.roisFrom)
	fmt.Fprintf(f.Stdout, "calibrate: open %s\n", srv.URL(shown))
	if token != "" {
		fmt.Fprintln(f.Stdout, "calibrate: the link carries a one-time access token; keep it to yourself")
	}
	fmt.Fprintln(f.Stdout, "calibrate: Ctrl-C to stop")
	return srv.Run(ctx)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
