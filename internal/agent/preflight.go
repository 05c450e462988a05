package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/publish/greengrass"
	"github.com/stirling-iot/stirling/publish/mqtt"
	"github.com/stirling-iot/stirling/publish/sitewise"
	"github.com/stirling-iot/stirling/recipe"
)

// CheckStart is the start gate: every check `stirling run` makes before it
// starts a publisher, run by `stirling run` at start and on each new
// deployment configuration, and by `stirling config check`. It opens no
// network connection. Each publisher is checked by its own driver (the
// same code its constructor runs): option values, the endpoint, the
// certificate, key and CA files (readable, parsing, certificate and key
// belonging together). With grants (config check) each greengrass
// publisher's topic must also be allowed by the recipe's accessControl.
// Problems come back as configs.Errors, placed at the key's line.
func CheckStart(cfg *configs.Config, grants *recipe.Grants) error {
	var errs configs.Errors
	for i := range cfg.Publishers {
		pc := &cfg.Publishers[i]
		key := fmt.Sprintf("publishers[%d]", i)
		at := func(sub string) string {
			if sub == "thing" {
				return "device.thing_name"
			}
			if sub == "" {
				return key
			}
			return key + "." + sub
		}
		switch pc.Type {
		case configs.TypeFile:
			if err := checkWritableDir(filepath.Dir(pc.File.Path)); err != nil {
				errs = append(errs, cfg.Errorf(at("path"), "%v", err))
			}
		case configs.TypeMQTT:
			mo := mqttOpts(cfg, pc)
			if err := mqtt.Check(&mo); err != nil {
				var oe *mqtt.OptError
				if errors.As(err, &oe) {
					errs = append(errs, cfg.Errorf(at(oe.Opt), "%s", oe.Msg))
				} else {
					errs = append(errs, cfg.Errorf(key, "%v", err))
				}
			}
		case configs.TypeGreengrass:
			o := greengrassOpts(cfg, pc)
			if err := greengrass.CheckPublisherOpts(o); err != nil {
				sub := ""
				if errors.Is(err, greengrass.ErrTopic) {
					sub = "topic"
				}
				errs = append(errs, cfg.Errorf(at(sub), "%v", err))
				continue
			}
			if grants == nil {
				continue
			}
			topic := o.Topic
			if topic == "" {
				topic = greengrass.DefaultTopic
			}
			if o.Destination == greengrass.DestLocal {
				if !grants.AllowsLocal(topic, cfg.Device.ThingName) {
					errs = append(errs, cfg.Errorf(at("topic"), "%q is not allowed by the recipe's %s policy (resources %q); change the topic or the recipe",
						topic, recipe.OpPublishToTopic, grants.Local))
				}
			} else if !grants.AllowsIoTCore(topic, cfg.Device.ThingName) {
				errs = append(errs, cfg.Errorf(at("topic"), "%q is not allowed by the recipe's %s policy (resources %q); change the topic or the recipe",
					topic, recipe.OpPublishToIoTCore, grants.IoTCore))
			}
		case configs.TypeSiteWise:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := sitewise.New(ctx, sitewiseOpts(cfg, pc))
			cancel()
			if err != nil {
				sub := ""
				switch {
				case errors.Is(err, sitewise.ErrEndpoint):
					sub = "endpoint"
				case errors.Is(err, sitewise.ErrNoRegion):
					sub = "region"
				case errors.Is(err, sitewise.ErrTemplate):
					sub = "alias_template"
				}
				errs = append(errs, cfg.Errorf(at(sub), "%v", err))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// checkWritableDir: the file publisher creates dir (MkdirAll) and its file
// in it, so the nearest existing ancestor must be a directory it can write.
func checkWritableDir(dir string) error {
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot create the file under %s: %w", d, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory of the file: %w", err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("directory of the file: %w", err)
		}
		d = parent
	}
}
