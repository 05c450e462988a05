package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"

	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/internal/yamlbound"

	"github.com/stirling-iot/stirling/sensors"
)

//go:embed agent.yaml sim.yaml rois.yaml
var shipped embed.FS

// EmbeddedPrefix marks a config name that refers to a shipped file, as in
// "embedded:sim.yaml".
const EmbeddedPrefix = "embedded:"

// EnvThingName is the variable Greengrass sets to the core device's thing name.
const EnvThingName = "AWS_IOT_THING_NAME"

// Embedded returns a shipped file: "agent.yaml", "sim.yaml" or "rois.yaml".
func Embedded(name string) ([]byte, error) {
	b, err := shipped.ReadFile(strings.TrimPrefix(name, EmbeddedPrefix))
	if err != nil {
		return nil, fmt.Errorf("configs: no embedded file %q (want agent.yaml, sim.yaml or rois.yaml): %w", name, err)
	}
	return b, nil
}

// Load reads and parses the config file at path. The name "embedded:X"
// loads a shipped file instead.
func Load(p string) (*Config, error) {
	return load(p, false)
}

// LoadFleet loads a configuration meant for a whole fleet (a Greengrass
// recipe's DefaultConfiguration): the thing name is per device, so it is
// neither taken from AWS_IOT_THING_NAME nor required; each device's agent
// resolves it at start. Everything else is validated as Load does.
func LoadFleet(p string) (*Config, error) {
	return load(p, true)
}

func load(p string, fleet bool) (*Config, error) {
	var b []byte
	var err error
	if strings.HasPrefix(p, EmbeddedPrefix) {
		b, err = Embedded(p)
	} else if b, err = yamlbound.ReadFile(p); err != nil {
		err = fileErr(p, err)
	}
	if err != nil {
		return nil, err
	}
	return parse(p, b, fleet)
}

// Parse decodes data (named name in errors) over Default, resolves the
// thing name from AWS_IOT_THING_NAME when empty, loads the ROI file and
// validates everything. On failure the error is an Errors listing every
// problem with its line.
//
// rois_file is resolved against the directory of name; for an embedded
// config (name "embedded:X") a relative ROI file comes from the embedded
// files. A ROI file that does not exist yet gives DefaultROIs and sets
// ROIsDefaulted.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, false)
}

func parse(name string, data []byte, fleet bool) (*Config, error) {
	cfg := Default()
	cfg.Source = name
	d := &decoder{file: name, lines: map[string]int{}}
	root, err := decodeYAML(name, data)
	if err != nil {
		return nil, err
	}
	if root.Kind != 0 {
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.lines = d.lines
	if cfg.Device.ThingName == "" && !fleet {
		cfg.Device.ThingName = os.Getenv(EnvThingName)
	}
	errs := d.errs
	if cfg.ROIsFile != "" {
		if err := cfg.loadROIs(name); err != nil {
			var es Errors
			if !errors.As(err, &es) {
				es = Errors{&Error{File: name, Line: d.lines["rois_file"], Key: "rois_file", Msg: err.Error()}}
			}
			errs = append(errs, es...)
		}
	}
	// Validate even after decoding errors so every problem is reported at
	// once; a key that failed to decode kept its (valid) default, and a
	// second message for the same key is dropped.
	failed := map[string]bool{}
	for _, e := range errs {
		failed[e.Key] = true
	}
	if err := cfg.validateAll(fleet); err != nil {
		for _, e := range err.(Errors) {
			if e.Key == "rois" {
				if len(errs) == 0 || cfg.ROIsPath == "" {
					e.File = cfg.ROIsPath
					errs = append(errs, e)
				}
				continue
			}
			if failed[e.Key] {
				continue
			}
			e.File, e.Line = name, d.lineOf(e.Key)
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	return cfg, nil
}

// lineOf finds the line of key or of its nearest ancestor in the file.
func (d *decoder) lineOf(key string) int {
	for key != "" {
		if l, ok := d.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func (c *Config) loadROIs(name string) error {
	if strings.HasPrefix(name, EmbeddedPrefix) && !filepath.IsAbs(c.ROIsFile) {
		p := path.Clean(c.ROIsFile)
		c.ROIsPath = EmbeddedPrefix + p
		b, err := shipped.ReadFile(p)
		if err != nil {
			return fmt.Errorf("no embedded ROI file %q", p)
		}
		r, err := ParseROIs(c.ROIsPath, b)
		if err != nil {
			return err
		}
		c.ROIs = *r
		return nil
	}
	p := c.ROIsFile
	if !filepath.IsAbs(p) && !strings.Contains(name, ":") {
		p = filepath.Join(filepath.Dir(name), p)
	}
	c.ROIsPath = p
	r, err := LoadROIs(p)
	if errors.Is(err, fs.ErrNotExist) {
		c.ROIs, c.ROIsDefaulted = DefaultROIs(), true
		return nil
	}
	if err != nil {
		return err
	}
	c.ROIs = *r
	return nil
}

// LoadROIs reads a ROI file (the one `stirling calibrate` writes). Errors
// are strict like Parse's; a missing file wraps fs.ErrNotExist.
func LoadROIs(p string) (*sensors.ROIs, error) {
	b, err := yamlbound.ReadFile(p)
	if err != nil {
		return nil, fileErr(p, err)
	}
	return ParseROIs(p, b)
}

// ParseROIs decodes and validates a ROI file. Every region must be given.
func ParseROIs(name string, data []byte) (*sensors.ROIs, error) {
	d := &decoder{file: name, lines: map[string]int{}}
	root, err := decodeYAML(name, data)
	if err != nil {
		return nil, err
	}
	var r sensors.ROIs
	if root.Kind == 0 {
		return nil, Errors{&Error{File: name, Msg: "empty; want hot_cylinder, cold_cylinder and flame"}}
	}
	d.decode(root, reflect.ValueOf(&r).Elem(), "")
	if len(d.errs) == 0 {
		for _, n := range r.Named() {
			if _, ok := d.lines[n.Name]; !ok {
				d.fail(0, n.Name, "missing; want a region {x, y, w, h}")
				continue
			}
			for _, k := range []string{"x", "y", "w", "h"} {
				if _, ok := d.lines[n.Name+"."+k]; !ok {
					d.fail(d.lines[n.Name], n.Name+"."+k, "missing; want x, y, w and h for every region")
				}
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, d.errs.err()
	}
	if err := r.Validate(); err != nil {
		var es Errors
		for _, e := range unjoin(err) {
			key, msg, _ := strings.Cut(e.Error(), ": ")
			if _, ok := d.lines[key]; !ok {
				key, msg = "", e.Error()
			}
			es = append(es, &Error{File: name, Line: d.lineOf(key), Key: key, Msg: msg})
		}
		return nil, es.err()
	}
	return &r, nil
}

// FromMap applies a configuration given as a map (Greengrass
// GetConfiguration returns JSON objects) through the same decoding and
// validation as a file: it is marshalled to YAML and parsed, so line
// numbers refer to that YAML and key paths are exact.
func FromMap(m map[string]any) (*Config, error) {
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("configs: encode configuration map: %w", err)
	}
	return Parse("greengrass:configuration", b)
}

// Marshal renders the effective configuration as YAML (all defaults
// filled in). Parse accepts the result.
func (c *Config) Marshal() ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	tidy(&root, "")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	return b.Bytes(), nil
}

// tidy shortens durations (1m0s -> 1m) and writes each metric's settings
// on one line.
func tidy(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if d, err := time.ParseDuration(n.Value); err == nil && n.Tag == "!!str" && strings.HasSuffix(n.Value, "0s") {
			n.Value = FormatDuration(d)
		}
	case yaml.MappingNode:
		if path == "pipeline.metrics" {
			for i := 1; i < len(n.Content); i += 2 {
				n.Content[i].Style = yaml.FlowStyle
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			tidy(n.Content[i+1], join(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			tidy(e, path+"[]")
		}
	}
}

// MarshalYAML writes a publisher flat: type, name, then its settings.
func (p Publisher) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k, v string) {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Value: v})
	}
	add("type", p.Type)
	if p.Name != "" {
		add("name", p.Name)
	}
	if s := p.settings(); s != nil {
		var sn yaml.Node
		if err := sn.Encode(s); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, sn.Content...)
	}
	return n, nil
}

// decodeYAML parses one document within the bounds of internal/yamlbound
// (size, aliases, a single document); its errors become Errors.
func decodeYAML(name string, data []byte) (*yaml.Node, error) {
	root, err := yamlbound.Decode(name, data)
	if err != nil {
		var be *yamlbound.Error
		if errors.As(err, &be) {
			return nil, Errors{&Error{File: name, Line: be.Line, Msg: be.Msg}}
		}
		return nil, fmt.Errorf("configs: %s: %w", name, err)
	}
	return root, nil
}

// fileErr reports a file that could not be read: a file over the size cap
// is an Errors like any other problem in it; others (fs.ErrNotExist, a
// permission error) are wrapped.
func fileErr(p string, err error) error {
	var be *yamlbound.Error
	if errors.As(err, &be) {
		return Errors{&Error{File: p, Msg: be.Msg}}
	}
	return fmt.Errorf("configs: %w", err)
}
