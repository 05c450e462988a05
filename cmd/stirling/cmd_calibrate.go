package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/stirling-iot/stirling/calibrate"
	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/logging"
	"github.com/stirling-iot/stirling/internal/perm"
	"github.com/stirling-iot/stirling/internal/webguard"
	"github.com/stirling-iot/stirling/recipe"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

const calibrateDescription = `Place the three thermal regions of interest (hot cylinder, cold cylinder,
flame) on the live camera image and save them to the ROI file the agent
watches. Run it once per physical setup (as root on the Pi, so the file gets
the component user as owner).

Frames:
  By default frames come from the running agent's status server
  (--agent, /api/frame), so calibration never fights the agent for the I2C
  bus. When no agent answers, calibrate opens the camera itself (--i2c-bus,
  0x33); --sim uses the simulated camera instead (no hardware needed).
  --source agent|camera|sim forces one.

Web page (the default):
  Serves a page at --listen (default 127.0.0.1:8088): a live heat map with a
  colour scale and the temperature under the cursor, the three regions as
  draggable, resizable rectangles with live mean/min/max, Suggest (places the
  regions from the image: the flame is the hottest compact blob, the hot
  cylinder the warm region next to it, the cold cylinder the cool engine
  region), Reset and Save. With a --listen address other machines can reach
  (e.g. 0.0.0.0:8088, to use a laptop on the LAN), the page needs a one-time
  token: open the URL printed here, which carries ?token=...; the first
  browser to open it gets a session cookie and the link stops working.
  The page answers only to the listen address, localhost, and (on 0.0.0.0)
  this machine's addresses and host name; give other names, such as a DNS
  name or a NAT address, with --allow-host. Stop with Ctrl-C.

Without a browser (a Pi over SSH):
  --terminal            draw the heat map with the regions in the terminal
                        (24-bit colour), refreshed live; --once draws one frame
  --roi NAME=x,y,w,h    set a region (NAME: hot_cylinder, cold_cylinder,
                        flame; repeat the flag) and save, no page
  --suggest             start from the suggested regions and save, no page
  --png FILE            write a snapshot with the regions drawn
  --dry-run             with --roi/--suggest: show, validate, do not save

Regions are pixel rectangles on the 32x24 image: columns x..x+w-1, rows
y..y+h-1. They must lie inside the image and be non-empty; the cylinders
must not overlap, and the flame may overlap the hot cylinder but not the cold
one. Invalid regions are refused with the reason and nothing is written.

Where it saves (never a guessed path):
  --rois FILE           that file;
  otherwise             the file the running agent reads, as it reports it
                        in --agent's /api/status (rois_file);
  no agent answering    the rois_file of --config FILE.
  With none of these, calibrate exits with an error naming --rois and
  --config. The page and the terminal show the file before anything is
  written.

Saving is safe as root in the component's work directory, which the
component user can write to: the directory is opened once without
following a link (only links owned by root or you, in directories of root
or yours, are followed on the way), every directory must belong to root,
you or the file's owner and must not be writable by others unless sticky,
and the file is written to a fresh temporary file, fsynced, given mode 0644
and, when run as root, the owner ggc_user:ggc_group if that user exists
(--owner), then renamed into place. A link at the file's name is replaced,
never followed. The previous file is kept as FILE.bak when it is a regular
file of at most 64 KiB with a single link; anything else is not copied, and
the message says so. The running agent picks the file up without a
restart. Calibrate also prints the Greengrass configuration merge that rolls
the same regions out to other devices.

Examples (on a Greengrass Pi with the agent running; each saves to the
file the agent reads):
  sudo stirling calibrate                                 # page on the Pi (or over ssh -L 8088:127.0.0.1:8088)
  sudo stirling calibrate --listen 0.0.0.0:8088           # page for a laptop on the LAN
  sudo stirling calibrate --terminal                      # heat map in the terminal, saves nothing
  sudo stirling calibrate --suggest --dry-run             # print the suggestion, save nothing
  sudo stirling calibrate --roi flame=5,16,6,6 --roi hot_cylinder=4,6,8,8 --roi cold_cylinder=20,6,8,8
  stirling calibrate --png /tmp/now.png                   # snapshot with the regions drawn
  stirling calibrate --sim --rois /tmp/rois.yaml          # on a laptop, without hardware`

// defaultComponent is the Greengrass component name used in the printed
// configuration merge: the one `stirling recipe` renders.
const defaultComponent = recipe.DefaultName

// roiFlags collects repeated --roi NAME=x,y,w,h flags.
type roiFlags map[string]sensors.ROI

func (r roiFlags) String() string {
	var s []string
	for k, v := range r {
		s = append(s, k+"="+v.String())
	}
	return strings.Join(s, " ")
}

func (r roiFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want NAME=x,y,w,h, got %q", v)
	}
	switch name {
	case sensors.HotCylinder, sensors.ColdCylinder, sensors.Flame:
	default:
		return fmt.Errorf("unknown region %q: want %s, %s or %s", name, sensors.HotCylinder, sensors.ColdCylinder, sensors.Flame)
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		return fmt.Errorf("%s: want x,y,w,h (4 integers), got %q", name, spec)
	}
	var n [4]int
	for i, p := range parts {
		x, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", name, p)
		}
		n[i] = x
	}
	r[name] = sensors.ROI{X: n[0], Y: n[1], W: n[2], H: n[3]}
	return nil
}

func (r roiFlags) apply(dst *sensors.ROIs) {
	for name, v := range r {
		switch name {
		case sensors.HotCylinder:
			dst.HotCylinder = v
		case sensors.ColdCylinder:
			dst.ColdCylinder = v
		case sensors.Flame:
			dst.Flame = v
		}
	}
}

type calibrateFlags struct {
	config, agent, source, i2cBus string
	sim                           bool
	listen, rois, owner           string
	component, png, logLevel      string
	roi                           roiFlags
	suggest, terminal, once, dry  bool
	refresh                       time.Duration

	// cfgROIs is the rois_file of --config (absolute), empty without one;
	// cfgErr says why --config gives no file to write.
	cfgROIs string
	cfgErr  error
	// roisFrom says where rois came from, for the messages.
	roisFrom   string
	allowHosts hostList
}

// hostList collects --allow-host flags: repeatable, each a comma list.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if _, err := webguard.ParseHost(n); err != nil {
			return err
		}
		*h = append(*h, n)
	}
	return nil
}

func cmdCalibrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "calibrate", "stirling calibrate [flags]", calibrateDescription)
	f := calibrateFlags{roi: roiFlags{}}
	fs.StringVar(&f.config, "config", "", "agent config `FILE`: its rois_file is the file to save when no agent answers, its http.listen the default --agent")
	fs.StringVar(&f.agent, "agent", "http://127.0.0.1:8080", "`URL` of the running agent's status server, for frames")
	fs.StringVar(&f.source, "source", "auto", "frame source: auto (agent, else camera), agent, camera or sim")
	fs.BoolVar(&f.sim, "sim", false, "use the simulated camera (same as --source sim)")
	fs.StringVar(&f.i2cBus, "i2c-bus", "1", "I2C bus of the camera, for --source camera (periph name: \"1\" is /dev/i2c-1)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8088", "`address` of the calibration page; a non-loopback address requires the printed token")
	fs.Var(&f.allowHosts, "allow-host", "another `NAME` (host or host:port) the page may be opened by, e.g. a DNS name or a NAT address; repeatable or comma-separated")
	fs.StringVar(&f.rois, "rois", "", "ROI `FILE` to read and write (default: the file the running agent reports, else the rois_file of --config)")
	fs.StringVar(&f.owner, "owner", "auto", "`user:group` of the saved file; auto is ggc_user:ggc_group when root and that user exists; empty leaves it")
	fs.StringVar(&f.component, "component", defaultComponent, "Greengrass component `name` for the printed configuration merge")
	fs.Var(f.roi, "roi", "set a region, `NAME=x,y,w,h` (hot_cylinder, cold_cylinder, flame); repeatable; saves without the page")
	fs.BoolVar(&f.suggest, "suggest", false, "start from the suggested regions and save without the page")
	fs.BoolVar(&f.dry, "dry-run", false, "with --roi or --suggest: print and validate, do not save")
	fs.StringVar(&f.png, "png", "", "write a PNG snapshot with the regions to `FILE`")
	fs.BoolVar(&f.terminal, "terminal", false, "draw the heat map with the regions in the terminal instead of serving the page")
	fs.BoolVar(&f.once, "once", false, "with --terminal: draw one frame and exit")
	fs.DurationVar(&f.refresh, "refresh", time.Second, "with --terminal: redraw interval")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("calibrate: unexpected argument %q (see --help)", fs.Arg(0))}
	}
	log, err := logging.New(e.stderr, f.logLevel, logging.Text)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if f.sim {
		f.source = "sim"
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if err := f.resolve(e, set["agent"]); err != nil {
		return err
	}

	saves := !f.dry && (len(f.roi) > 0 || f.suggest || (!f.terminal && f.png == ""))
	if err := f.target(ctx, e, saves); err != nil {
		return err
	}
	initial, fromFile := initialROIs(e, f.rois)
	if len(f.roi) > 0 && !f.suggest && f.png == "" && !f.terminal {
		// Regions given in full on the command line: no frames needed.
		return calibrateHeadless(ctx, e, f, nil, initial, log)
	}
	src, initial, closeSrc, err := openFrameSource(ctx, e, f, initial, fromFile, log)
	if err != nil {
		return err
	}
	defer closeSrc()

	if len(f.roi) > 0 || f.suggest || f.png != "" || f.terminal {
		return calibrateHeadless(ctx, e, f, src, initial, log)
	}
	return calibrateWeb(ctx, e, f, src, initial, log)
}

// initialROIs are the regions to start from: the ROI file if it exists and
// is valid, else the shipped defaults.
func initialROIs(e *env, path string) (sensors.ROIs, bool) {
	if path == "" {
		return configs.DefaultROIs(), false
	}
	r, err := calibrate.LoadROIs(path)
	if err == nil {
		return r, true
	}
	// Not there yet, or not readable without root (the work directory is
	// the component user's): start from the agent's or the shipped regions.
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
		fmt.Fprintf(e.stderr, "calibrate: ignoring the current ROI file: %v\n", err)
	}
	return configs.DefaultROIs(), false
}

// resolve fills the defaults that depend on --config.
func (f *calibrateFlags) resolve(e *env, agentSet bool) error {
	if f.config != "" {
		cfg, err := configs.Load(f.config)
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		if strings.HasPrefix(cfg.ROIsPath, configs.EmbeddedPrefix) {
			f.cfgErr = fmt.Errorf("%s uses the ROI file shipped inside the binary (%s), which cannot be rewritten", f.config, cfg.ROIsPath)
		} else if abs, err := filepath.Abs(cfg.ROIsPath); err == nil {
			f.cfgROIs = abs
		} else {
			f.cfgErr = fmt.Errorf("%s: rois_file: %w", f.config, err)
		}
		if !agentSet && cfg.HTTP.Listen != "" {
			f.agent = "http://" + cfg.HTTP.Listen
		}
	}
	if f.rois != "" {
		abs, err := filepath.Abs(f.rois)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("calibrate: --rois %q: %w", f.rois, err)}
		}
		f.rois, f.roisFrom = abs, "--rois"
	}
	if f.owner == "auto" {
		f.owner = calibrate.DefaultOwner()
	}
	switch f.source {
	case "auto", "agent", "camera", "sim":
	default:
		return &exitError{code: 2, err: fmt.Errorf("calibrate: --source %q: want auto, agent, camera or sim", f.source)}
	}
	if f.dry && len(f.roi) == 0 && !f.suggest {
		fmt.Fprintln(e.stderr, "calibrate: --dry-run only matters with --roi or --suggest")
	}
	return nil
}

// ErrNoROIsFile means calibrate does not know which file to save: no
// --rois, no agent reporting its file, no --config.
var ErrNoROIsFile = errors.New("calibrate: no ROI file to save to")

// target picks the file to save when --rois did not: the file the running
// agent reports, else the rois_file of --config. When the regions will be
// saved (must), not finding one is an error naming both options; otherwise
// rois stays empty and nothing is read from or written to a file.
func (f *calibrateFlags) target(ctx context.Context, e *env, must bool) error {
	if f.rois != "" {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	agentFile, reported, err := calibrate.AgentROIsFile(actx, f.agent, &http.Client{Timeout: 3 * time.Second})
	cancel()
	var why error
	switch {
	case err != nil:
		why = err
	case reported && agentFile != "":
		f.rois, f.roisFrom = agentFile, "the agent at "+f.agent
		if f.cfgROIs != "" && f.cfgROIs != agentFile {
			fmt.Fprintf(e.stderr, "calibrate: the agent at %s reads %s, not %s (the rois_file of %s): saving to the agent's; pass --rois to choose\n", f.agent, agentFile, f.cfgROIs, f.config)
		}
		return nil
	case reported:
		why = fmt.Errorf("the agent at %s reads the regions shipped inside the binary, not a file", f.agent)
	default:
		why = fmt.Errorf("the agent at %s does not report its ROI file (an older version)", f.agent)
	}
	if f.cfgROIs != "" {
		f.rois, f.roisFrom = f.cfgROIs, f.config+" (rois_file)"
		return nil
	}
	if !must {
		return nil
	}
	cfgWhy := "no --config FILE given"
	if f.cfgErr != nil {
		cfgWhy = f.cfgErr.Error()
	}
	return &exitError{code: 2, err: fmt.Errorf("%w: %w; %s: pass --rois FILE, or --config FILE (the agent's config, whose rois_file is used)", ErrNoROIsFile, why, cfgWhy)}
}

// openFrameSource picks the frame source. Without a ROI file, the agent's
// current regions replace initial.
func openFrameSource(ctx context.Context, e *env, f calibrateFlags, initial sensors.ROIs, fromFile bool, log *slog.Logger) (calibrate.FrameSource, sensors.ROIs, func(), error) {
	nop := func() {}

	if f.source == "auto" || f.source == "agent" {
		hs := calibrate.NewHTTPSource(f.agent, &http.Client{Timeout: 3 * time.Second})
		var fr sensors.Frame
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := hs.Next(pctx, &fr)
		cancel()
		switch {
		case err == nil:
			if !fromFile {
				if r := hs.ROIs(); r.Validate() == nil {
					initial = r
				}
			}
			fmt.Fprintf(e.stdout, "calibrate: frames from the running agent at %s\n", f.agent)
			return &firstFrame{first: fr, next: hs}, initial, nop, nil
		case f.source == "agent" || !errors.Is(err, calibrate.ErrNoAgent):
			return nil, initial, nop, fmt.Errorf("calibrate: frames from the agent: %w", err)
		}
		log.Info("no agent answering, opening the camera", "agent", f.agent, "err", err)
	}

	if f.source == "sim" {
		chip, err := camera.New(nil)
		if err != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: simulated camera: %w", err)
		}
		dev, err := mlx90640.New(ctx, chip, nil)
		if err != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: simulated camera: %w", err)
		}
		fmt.Fprintln(e.stdout, "calibrate: frames from the simulated camera")
		return fullFrames(dev.NextFrame), initial, func() { _ = dev.Halt() }, nil
	}

	if _, err := host.Init(); err != nil {
		return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and periph init failed: %w", f.agent, err)
	}
	if _, err := strconv.Atoi(f.i2cBus); err == nil {
		if perr := (perm.Checker{}).Check("/dev/i2c-" + f.i2cBus); perr != nil {
			return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and the camera's bus is not accessible: %w", f.agent, perr)
		}
	}
	bus, err := i2creg.Open(f.i2cBus)
	if err != nil {
		return nil, initial, nop, fmt.Errorf("calibrate: no agent at %s, and I2C bus %q cannot be opened (is i2c enabled, is the user in group i2c? --sim runs without hardware): %w", f.agent, f.i2cBus, err)
	}
	dev, err := mlx90640.New(ctx, bus, nil)
	if err != nil {
		bus.Close()
		return nil, initial, nop, fmt.Errorf("calibrate: camera on I2C bus %s: %w", f.i2cBus, err)
	}
	fmt.Fprintf(e.stdout, "calibrate: frames from the camera on I2C bus %s (no agent at %s)\n", f.i2cBus, f.agent)
	return fullFrames(dev.NextFrame), initial, func() { _ = dev.Halt(); _ = bus.Close() }, nil
}

// firstFrame returns an already fetched frame first.
type firstFrame struct {
	first sensors.Frame
	used  bool
	next  calibrate.FrameSource
}

func (s *firstFrame) Next(ctx context.Context, dst *sensors.Frame) error {
	if !s.used {
		s.used = true
		*dst = s.first
		return nil
	}
	return s.next.Next(ctx, dst)
}

// fullFrames reads subpages until the first frame has every pixel, then one
// subpage per call (the caller's frame keeps the other subpage).
func fullFrames(next func(context.Context, *sensors.Frame) error) calibrate.FrameFunc {
	return func(ctx context.Context, dst *sensors.Frame) error {
		for range 4 {
			if err := next(ctx, dst); err != nil {
				return err
			}
			complete := true
			for _, v := range dst.Valid {
				complete = complete && v
			}
			if complete {
				return nil
			}
		}
		return nil
	}
}

// saveROIs writes r and returns the lines to show: where it went and the
// fleet configuration merge.
func saveROIs(f calibrateFlags, r sensors.ROIs, log *slog.Logger) (string, error) {
	res, err := calibrate.Save(f.rois, r, &calibrate.SaveOpts{Owner: f.owner, Logger: log})
	if errors.Is(err, calibrate.ErrUnsafePath) {
		return "", fmt.Errorf("%w (a component's work directory is trusted when --owner names the component's user:group)", err)
	}
	if err != nil {
		return "", err
	}
	merge, err := calibrate.MergeConfig(f.component, r)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s; the running agent picks it up without a restart.\n", res.Message())
	fmt.Fprintf(&b, "To roll the same regions out with Greengrass, use this configuration merge:\n%s\n", merge)
	fmt.Fprintf(&b, "e.g. sudo /greengrass/v2/bin/greengrass-cli deployment create --merge \"%s=VERSION\" --update-config '%s'", f.component, merge)
	return b.String(), nil
}

func printROIs(w io.Writer, r sensors.ROIs) {
	for _, n := range r.Named() {
		fmt.Fprintf(w, "  %-14s %s\n", n.Name, n.ROI)
	}
}

// calibrateHeadless is the no-browser path: --roi, --suggest, --png, --terminal.
func calibrateHeadless(ctx context.Context, e *env, f calibrateFlags, src calibrate.FrameSource, rois sensors.ROIs, log *slog.Logger) error {
	var fr sensors.Frame
	needFrame := f.suggest || f.png != "" || f.terminal
	if needFrame {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := src.Next(fctx, &fr)
		cancel()
		if err != nil {
			return fmt.Errorf("calibrate: first frame: %w", err)
		}
	}
	if f.suggest {
		s, err := calibrate.Suggest(&fr)
		if err != nil {
			return err
		}
		rois = s
	}
	f.roi.apply(&rois)
	if err := rois.Validate(); err != nil {
		fmt.Fprintln(e.stdout, "calibrate: regions:")
		printROIs(e.stdout, rois)
		return &exitError{code: 1, err: fmt.Errorf("calibrate: nothing saved: %w", err)}
	}
	if f.png != "" {
		if err := writePNGFile(f.png, &fr, rois); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "calibrate: wrote %s\n", f.png)
	}
	if len(f.roi) > 0 || f.suggest {
		fmt.Fprintln(e.stdout, "calibrate: regions:")
		printROIs(e.stdout, rois)
		if f.dry {
			fmt.Fprintln(e.stdout, "calibrate: valid; not saved (--dry-run)")
		} else {
			fmt.Fprintf(e.stdout, "calibrate: saving to %s (from %s)\n", f.rois, f.roisFrom)
			msg, err := saveROIs(f, rois, log)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, msg)
		}
	}
	if !f.terminal {
		return nil
	}
	for {
		if !f.once {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J")
		}
		if err := calibrate.WriteTerminal(e.stdout, &fr, rois); err != nil {
			return err
		}
		if f.once {
			return nil
		}
		fmt.Fprintf(e.stdout, "frame #%d  %s   (Ctrl-C to stop; set regions with --roi NAME=x,y,w,h)\n", fr.Seq, fr.Time.Format(time.TimeOnly))
		if f.rois != "" {
			fmt.Fprintf(e.stdout, "regions file %s (from %s)\n", f.rois, f.roisFrom)
		}
		wait, cancel := context.WithTimeout(ctx, f.refresh)
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
	if err := calibrate.WritePNG(out, fr, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	return nil
}

// calibrateWeb serves the calibration page until ctx is done.
func calibrateWeb(ctx context.Context, e *env, f calibrateFlags, src calibrate.FrameSource, rois sensors.ROIs, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("calibrate: --listen %q: %w", f.listen, err)}
	}
	var token string
	if !isLoopback(host) {
		if token, err = calibrate.NewToken(); err != nil {
			return err
		}
	}
	srv := calibrate.NewServer(&calibrate.ServerOpts{
		Addr:       f.listen,
		Token:      token,
		AllowHosts: f.allowHosts,
		Source:     src,
		ROIs:       rois,
		File:       f.rois,
		Save: func(_ context.Context, r sensors.ROIs) (string, error) {
			msg, err := saveROIs(f, r, log)
			if err == nil {
				fmt.Fprintln(e.stdout, msg)
			}
			return msg, err
		},
		Logger: log,
	})
	if err := srv.Listen(); err != nil {
		return err
	}
	shown := ""
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		shown, _ = os.Hostname()
	}
	fmt.Fprintf(e.stdout, "calibrate: regions file %s (from %s)\n", f.rois, f.roisFrom)
	fmt.Fprintf(e.stdout, "calibrate: open %s\n", srv.URL(shown))
	if token != "" {
		fmt.Fprintln(e.stdout, "calibrate: the link carries a one-time access token; keep it to yourself")
	}
	fmt.Fprintln(e.stdout, "calibrate: Ctrl-C to stop")
	return srv.Run(ctx)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
