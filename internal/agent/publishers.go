package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/publish"
	"github.com/stirling-iot/stirling/publish/greengrass"
	"github.com/stirling-iot/stirling/publish/mqtt"
	"github.com/stirling-iot/stirling/publish/sitewise"
)

// openPublishers builds every configured publisher and its spool runner.
func (a *agent) openPublishers(ctx context.Context) error {
	seen := map[string]bool{}
	for i, pc := range a.cfg.Publishers {
		name := publisherName(pc, i)
		if seen[name] {
			return fmt.Errorf("publishers[%d]: a second publisher named %q: give each a distinct name (its spool cursor is named after it)", i, name)
		}
		seen[name] = true
		log := a.log
		var p publish.Publisher
		switch pc.Type {
		case configs.TypeStdout:
			p = publish.NewStdout(a.o.Stdout, name)
		case configs.TypeFile:
			f, err := publish.NewFile(&publish.FileOpts{
				Path: pc.File.Path, MaxBytes: int64(pc.File.RotateBytes), Keep: pc.File.Keep, Name: name, Logger: log,
			})
			if err != nil {
				return fmt.Errorf("publishers[%d] (file): %w", i, err)
			}
			p = f
		case configs.TypeMQTT:
			mo := mqttOpts(a.cfg, &pc)
			mo.Logger = log
			mp, err := mqtt.New(&mo)
			if err != nil {
				return fmt.Errorf("publishers[%d] (mqtt): %w", i, err)
			}
			p = mp
		case configs.TypeGreengrass:
			if a.gg == nil {
				// It stays configured: its cursor keeps its readings in the
				// spool and its state says why nothing is delivered.
				log.Error("greengrass publisher cannot deliver: not running under Greengrass (no IPC socket in the environment); its readings wait in the spool",
					"publisher", name, "env", greengrass.EnvSocket)
				p = publish.NewUnavailable(name, greengrass.ErrNoSocket)
				break
			}
			gp, err := greengrass.NewPublisher(a.gg, greengrassOpts(a.cfg, &pc))
			if err != nil {
				return fmt.Errorf("publishers[%d] (greengrass): %w", i, err)
			}
			p = gp
		case configs.TypeSiteWise:
			so := sitewiseOpts(a.cfg, &pc)
			so.Logger = log
			// The timestamp window and the hold (max_latency) follow the
			// readings' clock, which the simulator may run faster.
			so.Clock = a.clk
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			sw, err := sitewise.New(sctx, so)
			cancel()
			if err != nil {
				return fmt.Errorf("publishers[%d] (sitewise): %w", i, err)
			}
			p = sw
		default:
			return fmt.Errorf("publishers[%d]: unknown type %q", i, pc.Type)
		}
		a.pubs = append(a.pubs, p)
		cur, err := a.sp.Cursor(name)
		if err != nil {
			return fmt.Errorf("publishers[%d]: spool cursor %q: %w", i, name, err)
		}
		ro := publish.DefaultRunnerOpts()
		ro.Logger = log
		// The runner holds records for a Packer's max_latency of sensor
		// time (the simulator may run faster than the wall).
		ro.Clock = a.clk
		a.runners = append(a.runners, publish.NewRunner(p, cur, a.sp, &ro))
	}
	if len(a.runners) == 0 {
		a.log.Warn("no publisher is active: readings are only kept in the spool")
	}
	return nil
}

func (a *agent) closePublishers() {
	for _, p := range a.pubs {
		if err := p.Close(); err != nil {
			a.log.Warn("closing publisher", "publisher", p.Name(), "err", err)
		}
	}
	a.pubs = nil
}

// publisherName is the publisher's configured name, or its type; it also
// names the publisher's spool cursor.
func publisherName(pc configs.Publisher, _ int) string {
	if pc.Name != "" {
		return pc.Name
	}
	return pc.Type
}
