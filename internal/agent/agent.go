package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/internal/status"
	"github.com/stirling-iot/stirling/internal/watch"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/pipeline/spool"
	"github.com/stirling-iot/stirling/publish"
	"github.com/stirling-iot/stirling/publish/greengrass"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/tachometer"
)

// agent is one run of the agent's stages with one configuration.
type agent struct {
	cfg *configs.Config
	o   *Opts
	log *slog.Logger
	clk clock.Clock
	gg  *greengrass.Client

	sens    atomic.Pointer[sensorSet] // set by run; read by Snapshot from other goroutines
	pipe    *pipeline.Pipeline
	sp      *spool.Spool
	writer  *pipeline.SpoolWriter
	pubs    []publish.Publisher
	runners []*publish.Runner
	tach    atomic.Pointer[tachometer.Tach]
	cam     atomic.Pointer[mlx90640.Dev]

	frameMu  sync.Mutex
	frame    sensors.Frame
	hasFrame bool

	camOpens, camOpenErrors, camFrameErrors, camResets atomic.Uint64
	tachRestarts, tachEvents                           atomic.Uint64
	roiReloads, roiReloadErrors                        atomic.Uint64
	lastSensor                                         atomic.Int64 // unix ns (wall) of the last thermal frame the pipeline took
	camCounts                                          camCounters
}

// camCounters accumulates driver counters across camera re-opens.
type camCounters struct {
	mu   sync.Mutex
	base mlx90640.Stats
}

func newAgent(ctx context.Context, cfg *configs.Config, o *Opts) (*agent, error) {
	log := o.Logger
	a := &agent{cfg: cfg, o: o, log: log, gg: o.Greengrass}
	if cfg.ROIsDefaulted {
		log.Warn("ROI file not found: using the built-in regions; run `stirling calibrate` to place them", "rois_file", cfg.ROIsPath)
	}

	dir := cfg.Spool.Dir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	so := spoolOpts(&cfg.Spool)
	// The spool keeps real time even when the simulated engine runs
	// accelerated: its sync interval protects the SD card, not the model.
	so.Clock = clock.Real{}
	for i, pc := range cfg.Publishers {
		so.Cursors = append(so.Cursors, publisherName(pc, i))
	}
	sp, err := spool.Open(dir, so, log)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	a.sp = sp
	restart := resumePoint(sp, log)
	wo := pipeline.SpoolWriterOpts{Restart: restart, Clock: so.Clock, Logger: log}
	var newest time.Time
	if restart != nil {
		wo.LastSeq, newest = restart.PreviousSeq, restart.PreviousTime
	}
	a.writer, err = pipeline.NewSpoolWriter(sp, &wo)
	if err != nil {
		sp.Close()
		return nil, err
	}

	a.clk = clock.Real{}
	if cfg.Sensors.Bus == configs.BusSim && cfg.Sensors.Sim.Speedup > 1 {
		// Accelerated virtual time runs ahead of the wall clock. After a
		// restart it continues from the newest spooled reading, so sensor
		// time never steps back.
		a.clk = clock.NewScaled(resumeTime(newest, time.Now(), cfg.Pipeline.Window), cfg.Sensors.Sim.Speedup)
	}
	po := pipelineOpts(&cfg.Pipeline)
	po.Clock = a.clk
	po.Logger = log
	pipe, err := pipeline.New(cfg.ROIs, &po)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	a.pipe = pipe

	if err := a.openPublishers(ctx); err != nil {
		a.closePublishers()
		sp.Close()
		return nil, err
	}
	return a, nil
}

// resumePoint decodes the newest spooled batch into where the previous
// process left off: its last reading's Seq (the writer numbers on from
// there) and its newest reading time. It returns nil for an empty spool
// (nothing to announce), and a Restart with zero fields when the newest
// record cannot be read: numbering restarts at 1, and the restart is still
// announced.
func resumePoint(sp *spool.Spool, log *slog.Logger) *pipeline.Restart {
	_, payload, err := sp.Last()
	if errors.Is(err, spool.ErrEmpty) {
		return nil
	}
	var r pipeline.Restart
	if err == nil {
		r.PreviousSeq, r.PreviousTime, err = pipeline.ResumePoint(payload)
	}
	if err != nil {
		log.Error("cannot read the newest spooled record; reading seq restarts at 1", "component", "spool", "err", err)
		return &pipeline.Restart{}
	}
	return &r
}

// resumeTime is the later of now and the end of the window that holds
// newest, the newest reading in the spool (a window aggregate is stamped
// with its window's start), and at least a second after newest: the
// restarted clock never stamps a reading into a window already spooled.
func resumeTime(newest, now time.Time, window time.Duration) time.Time {
	if newest.IsZero() {
		return now
	}
	if t := newest.Add(max(window, time.Second)); t.After(now) {
		return t
	}
	return now
}

// shutdownBudget is how long the agent may take to stop after SIGTERM,
// draining the publishers included; closing the publishers' connections
// comes after it (at most 250 ms for MQTT). Greengrass sends SIGKILL 5 s
// after SIGTERM; the process exits within 4 s.
const shutdownBudget = 3500 * time.Millisecond

// stopGrace is the part of the budget kept for the runners to return
// after their ctx is cancelled at the drain deadline.
const stopGrace = 500 * time.Millisecond

// run runs the stages until ctx is done (returns nil, nil), the sensor time
// reaches stopAfter (nil, nil), a new configuration arrives (it is returned),
// or a stage fails (the error).
func (a *agent) run(ctx context.Context, stopAfter time.Duration, reload <-chan *configs.Config) (*configs.Config, error) {
	defer a.sp.Close()
	defer a.closePublishers()

	sens, err := a.openSensors(ctx)
	if err != nil {
		return nil, err
	}
	a.sens.Store(sens)
	defer sens.close()

	sensCtx, stopSensors := context.WithCancel(ctx)
	defer stopSensors()
	// Publishers, the spool's syncer and the status page outlive the
	// sensors: they run until the spool has taken the last batch.
	pubCtx, stopPubs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPubs()

	fatal := make(chan error, 8)
	var sensWG, pubWG sync.WaitGroup
	goStage := func(wg *sync.WaitGroup, name string, c context.Context, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil && c.Err() == nil {
				fatal <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	batches := make(chan *pipeline.Batch, 16)
	pipeDone := make(chan error, 1)
	go func() {
		// Run closes batches when it returns.
		pipeDone <- a.pipe.Run(sensCtx, batches)
	}()
	writerDone := make(chan error, 1)
	go func() { writerDone <- a.writer.Run(sensCtx, batches) }()

	goStage(&pubWG, "spool", pubCtx, a.sp.Run)
	for _, r := range a.runners {
		goStage(&pubWG, "publisher", pubCtx, r.Run)
	}
	var srv *status.Server
	if a.cfg.HTTP.Listen != "" { // empty turns the status server off
		reg := a.registry()
		srv = status.New(a, &status.Opts{
			Addr:             a.cfg.HTTP.Listen,
			LiveWindow:       a.cfg.LivezWindow(),
			HealthMaxSilence: a.cfg.HTTP.HealthzMaxSilence,
			AllowHosts:       a.cfg.HTTP.AllowHosts,
			Logger:           a.log,
			Clock:            clock.Real{},
			Metrics:          reg,
		})
		reg.MustRegister(srv)
		if err := srv.Listen(); err != nil {
			return nil, fmt.Errorf("status page: %w", err)
		}
		fmt.Fprintf(a.o.Stderr, "stirling: status page on http://%s/ (metrics on /metrics)\n", srv.Addr())
		goStage(&pubWG, "status page", pubCtx, srv.Run)
	}

	for _, bg := range sens.background {
		goStage(&sensWG, "simulator", sensCtx, bg)
	}
	goStage(&sensWG, "thermal camera", sensCtx, a.cameraLoop)
	goStage(&sensWG, "tachometer", sensCtx, a.tachLoop)
	if a.cfg.ROIsPath != "" && !strings.HasPrefix(a.cfg.ROIsPath, configs.EmbeddedPrefix) {
		goStage(&sensWG, "roi watch", sensCtx, func(c context.Context) error {
			return watch.File(c, a.cfg.ROIsPath, time.Second, a.reloadROIs, func(err error) {
				a.log.Warn("cannot stat the ROI file", "path", a.cfg.ROIsPath, "err", err)
			})
		})
	}
	if a.gg != nil {
		if err := a.gg.UpdateState(ctx, greengrass.StateRunning); err != nil {
			a.log.Warn("cannot report RUNNING to Greengrass", "err", err)
		}
	}
	stopAt := make(<-chan time.Time)
	if stopAfter > 0 {
		stopAt = a.clk.After(stopAfter)
	}
	a.log.Info("agent running", "bus", a.cfg.Sensors.Bus, "publishers", len(a.runners), "spool", a.cfg.Spool.Dir)

	var (
		next     *configs.Config
		fatalErr error
	)
	select {
	case <-ctx.Done():
		a.log.Info("stopping: signal received")
	case <-stopAt:
		a.log.Info("stopping: --stop-after reached", "sensor_time", stopAfter)
	case next = <-reload:
	case fatalErr = <-fatal:
		a.log.Error("stopping: fatal error", "err", fatalErr)
	case err := <-pipeDone:
		fatalErr = fmt.Errorf("pipeline stopped: %w", err)
		pipeDone <- err
	}
	return next, errors.Join(fatalErr, a.shutdown(stopSensors, stopPubs, &sensWG, &pubWG, pipeDone, writerDone))
}

// shutdown stops the sensors, lets the pipeline close its open window into
// the spool, syncs the spool, then drains the publishers: each delivers
// what the spool holds and stops, or stops at its first failed attempt
// (its records stay in the spool). All of it inside the budget Greengrass
// allows between SIGTERM and SIGKILL.
func (a *agent) shutdown(stopSensors, stopPubs context.CancelFunc, sensWG, pubWG *sync.WaitGroup, pipeDone, writerDone <-chan error) error {
	start := time.Now()
	deadline := time.NewTimer(shutdownBudget - stopGrace)
	defer deadline.Stop()
	stopSensors()
	var errs []error
	for _, step := range []struct {
		name string
		ch   <-chan error
	}{{"pipeline", pipeDone}, {"spool writer", writerDone}} {
		select {
		case err := <-step.ch:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", step.name, err))
			}
		case <-deadline.C:
			a.log.Error("shutdown: stage did not stop in time; the newest readings may be lost", "stage", step.name)
			return errors.Join(errs...)
		}
	}
	if err := a.sp.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("spool sync: %w", err))
	}
	a.drainPublishers(start.Add(shutdownBudget - stopGrace))
	waitFor(sensWG, 200*time.Millisecond)
	stopPubs()
	if !waitFor(pubWG, stopGrace) {
		a.log.Warn("shutdown: publishers still busy; their unacknowledged batches stay in the spool")
	}
	for _, r := range a.runners {
		if st := r.Stats(); st.LagRecords > 0 {
			a.log.Warn("publisher not drained; its records stay in the spool", "publisher", st.Name,
				"lag_records", st.LagRecords, "state", st.StateText(), "reason", st.Reason)
		}
	}
	ws := a.writer.Stats()
	a.log.Info("spool synced", "took", time.Since(start).Round(time.Millisecond),
		"batches", ws.Batches, "readings", ws.Readings, "last_seq", ws.LastSeq)
	return errors.Join(errs...)
}

// drainPublishers lets every runner deliver what the spool holds, in
// parallel, until each has caught up or failed, or until deadline.
func (a *agent) drainPublishers(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range a.runners {
		wg.Go(func() { _ = r.Drain(ctx) })
	}
	wg.Wait()
}

func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// cameraLoop reads frames for as long as ctx lasts. A camera that cannot be
// opened, or that fails several frames in a row, is (re)opened with backoff:
// after an unplug the chip comes back with its power-on settings.
func (a *agent) cameraLoop(ctx context.Context) error {
	log := a.log.With("component", "mlx90640")
	f := new(sensors.Frame)
	var dev *mlx90640.Dev
	backoff := time.Second
	failures := 0
	defer func() {
		if dev != nil {
			a.retireCamera(dev)
		}
	}()
	for ctx.Err() == nil {
		if dev == nil {
			d, err := a.sens.Load().openCamera(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				a.camOpenErrors.Add(1)
				log.Warn("thermal camera unavailable; retrying", "err", err, "retry_in", backoff)
				if a.clk.Sleep(ctx, backoff) != nil {
					break
				}
				backoff = min(backoff*2, 30*time.Second)
				continue
			}
			dev, backoff = d, time.Second
			a.cam.Store(d)
			a.camOpens.Add(1)
			log.Info("thermal camera ready", "device", d.String())
		}
		if err := dev.NextFrame(ctx, f); err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			a.camFrameErrors.Add(1)
			if failures == 1 || failures%20 == 0 {
				log.Warn("thermal frame failed", "err", err, "consecutive", failures)
			}
			if failures >= 5 {
				log.Warn("re-initialising the thermal camera after repeated failures", "consecutive", failures)
				a.retireCamera(dev)
				dev = nil
				a.camResets.Add(1)
			}
			continue
		}
		if failures > 0 {
			log.Info("thermal camera recovered", "after_failures", failures)
			failures = 0
		}
		a.frameMu.Lock()
		a.frame, a.hasFrame = *f, true
		a.frameMu.Unlock()
		if err := a.pipe.HandleFrame(ctx, f); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		a.lastSensor.Store(time.Now().UnixNano())
	}
	return nil
}

// retireCamera folds a device's counters into the running totals and closes it.
func (a *agent) retireCamera(d *mlx90640.Dev) {
	s := d.Stats()
	a.camCounts.mu.Lock()
	b := &a.camCounts.base
	b.Subpages += s.Subpages
	b.Retries += s.Retries
	b.CorruptFrames += s.CorruptFrames
	b.Timeouts += s.Timeouts
	b.NACKs += s.NACKs
	b.ShortReads += s.ShortReads
	b.BusErrors += s.BusErrors
	a.cam.Store(nil)
	a.camCounts.mu.Unlock()
	_ = d.Close()
}

// cameraStats are the driver counters since the agent started.
func (a *agent) cameraStats() mlx90640.Stats {
	a.camCounts.mu.Lock()
	defer a.camCounts.mu.Unlock()
	s := a.camCounts.base
	if d := a.cam.Load(); d != nil {
		c := d.Stats()
		s.Subpages += c.Subpages
		s.Retries += c.Retries
		s.CorruptFrames += c.CorruptFrames
		s.Timeouts += c.Timeouts
		s.NACKs += c.NACKs
		s.ShortReads += c.ShortReads
		s.BusErrors += c.BusErrors
	}
	return s
}

// tachLoop runs the tachometer, restarting it if its source fails.
func (a *agent) tachLoop(ctx context.Context) error {
	log := a.log.With("component", "tachometer")
	t := a.tach.Load()
	events := make(chan tachometer.Event, 16)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				a.tachEvents.Add(1)
				log.Info("flywheel "+string(ev.Kind), "time", ev.Time, "rpm", ev.RPM)
			}
		}
	}()
	backoff := time.Second
	for {
		err := t.Run(ctx, a.pipe.Speeds(), events)
		if ctx.Err() != nil {
			return nil
		}
		a.tachRestarts.Add(1)
		log.Error("tachometer stopped; restarting", "err", err, "retry_in", backoff)
		if a.clk.Sleep(ctx, backoff) != nil {
			return nil
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// reloadROIs applies a rewritten ROI file. An invalid file is logged and
// the current regions stay.
func (a *agent) reloadROIs() {
	r, err := configs.LoadROIs(a.cfg.ROIsPath)
	if err == nil {
		err = a.pipe.SetROIs(*r)
	}
	if err != nil {
		a.roiReloadErrors.Add(1)
		a.log.Error("ROI file rejected: keeping the current regions", "path", a.cfg.ROIsPath, "err", err)
		return
	}
	a.roiReloads.Add(1)
	a.log.Info("ROI file reloaded", "path", a.cfg.ROIsPath,
		"hot_cylinder", r.HotCylinder.String(), "cold_cylinder", r.ColdCylinder.String(), "flame", r.Flame.String())
}
