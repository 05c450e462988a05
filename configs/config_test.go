package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// base is a minimal valid file; tests append to it.
const base = "publishers:\n  - type: stdout\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear, in order, one per error line
	}{
		{"unknown top-level key", base + "bogus: 1\n",
			[]string{"t.yaml:3: bogus: unknown key; want one of device, sensors, rois_file, pipeline, spool, publishers, http"}},
		{"unknown nested key", base + "pipeline:\n  batch:\n    max_count: 3\n",
			[]string{"t.yaml:5: pipeline.batch.max_count: unknown key; want one of max_readings, max_bytes, max_latency"}},
		{"wrong type int", base + "pipeline:\n  batch:\n    max_readings: lots\n",
			[]string{`t.yaml:5: pipeline.batch.max_readings: "lots" is not an integer`}},
		{"wrong type duration", base + "pipeline:\n  window: 5\n",
			[]string{`t.yaml:4: pipeline.window: "5" is not a duration; want a duration like 1s, 250ms or 5m`}},
		{"wrong type mapping", base + "spool: /tmp\n",
			[]string{`t.yaml:3: spool: got a scalar "/tmp"; want a mapping with keys dir, max_bytes`}},
		{"wrong type size", base + "spool:\n  max_bytes: big\n",
			[]string{`t.yaml:4: spool.max_bytes: "big": want a size like 4096, 64KiB or 16MiB`}},
		{"range duration", base + "\npipeline:\n  window: -1s\n",
			[]string{`t.yaml:5: pipeline.window: "-1s" out of range; want a duration from 100ms to 1h`}},
		{"range number", base + "sensors:\n  thermal:\n    emissivity: 1.5\n",
			[]string{"t.yaml:5: sensors.thermal.emissivity: 1.5 out of range; want a number from 0.1 to 1"}},
		{"enum", base + "sensors:\n  bus: i2c\n",
			[]string{`t.yaml:4: sensors.bus: "i2c" not allowed; want one of hardware, sim`}},
		{"metric override partial", base + "pipeline:\n  metrics:\n    rpm: {min: 6000}\n",
			[]string{"t.yaml:5: pipeline.metrics.rpm: min 6000 above max 5000; want min <= max"}},
		{"unknown metric", base + "pipeline:\n  metrics:\n    torque: {max: 3}\n",
			[]string{"t.yaml:5: pipeline.metrics.torque: unknown metric; want one of rpm,"}},
		{"all errors at once", base + "pipeline:\n  window: 0s\n  nope: 1\nhttp:\n  listen: nohost\n",
			[]string{"t.yaml:4: pipeline.window:", "t.yaml:5: pipeline.nope: unknown key", `t.yaml:7: http.listen: "nohost" is not host:port`}},
		{"no publishers", "device:\n  thing_name: x\n",
			[]string{"t.yaml: publishers: empty; want at least one of stdout, file, mqtt, greengrass, sitewise"}},
		{"publisher unknown type", "publishers:\n  - type: kafka\n",
			[]string{`t.yaml:2: publishers[0].type: "kafka" not allowed; want one of stdout, file, mqtt, greengrass, sitewise`}},
		{"publisher missing type", "publishers:\n  - layout: batch\n",
			[]string{"t.yaml:2: publishers[0].type: missing; want one of stdout"}},
		{"publisher key of another type", "publishers:\n  - type: stdout\n    topic: a/b\n",
			[]string{"t.yaml:3: publishers[0].topic: unknown key; want one of type, name, layout"}},
		{"duplicate publisher names", "publishers:\n  - type: stdout\n  - type: stdout\n",
			[]string{`t.yaml:3: publishers[1].name: "stdout" already used by publishers[0]`}},
		{"mqtt checks", "device:\n  thing_name: pi\npublishers:\n  - type: mqtt\n    endpoint: host\n    topic: /a\n    keepalive: 10s\n    qos: 0\n    client_id: " + strings.Repeat("c", 129) + "\n    cert_file: c\n    key_file: k\n    ca_file: a\n",
			[]string{
				`t.yaml:5: publishers[0].endpoint: "host" is not host:port`,
				`t.yaml:6: publishers[0].topic: "/a" starts with a slash`,
				`t.yaml:7: publishers[0].keepalive: "10s" out of range; want a duration from 30s to 20m`,
				"t.yaml:8: publishers[0].qos: 0 not allowed; want 1",
				"t.yaml:9: publishers[0].client_id: 129 bytes; want at most 128",
			}},
		{"publisher max_latency", "device:\n  thing_name: pi\npublishers:\n  - type: mqtt\n    endpoint: h:8883\n    layout: packed\n    max_latency: 11m\n  - type: sitewise\n    max_latency: -1s\n  - type: mqtt\n    name: m2\n    layout: columns\n",
			[]string{
				`t.yaml:7: publishers[0].max_latency: "11m" out of range; want a duration from 0s to 10m`,
				`t.yaml:9: publishers[1].max_latency: "-1s" out of range; want a duration from 0s to 10m`,
				`t.yaml:12: publishers[2].layout: "columns" not allowed; want one of sample, batch, packed`,
			}},
		{"topic slashes", "device:\n  thing_name: pi\npublishers:\n  - type: greengrass\n    topic: a/b/c/d/e/f/g/h/i\n",
			[]string{`t.yaml:5: publishers[0].topic: "a/b/c/d/e/f/g/h/i" has 8 slashes; want at most 7`}},
		{"cloud needs thing name", "publishers:\n  - type: sitewise\n",
			[]string{"t.yaml: device.thing_name: empty and AWS_IOT_THING_NAME is not set"}},
		{"bad yaml", "pipeline:\n  window: [1s\n",
			[]string{"not valid YAML: did not find expected"}},
		{"duplicate key", base + "http:\n  listen: a:1\n  listen: b:2\n",
			[]string{"t.yaml:5: http.listen: duplicate key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvThingName, "")
			dir := t.TempDir()
			name := filepath.Join(dir, "t.yaml")
			_, err := Parse(name, []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			got := strings.ReplaceAll(err.Error(), name, "t.yaml")
			lines := strings.Split(got, "\n")
			if len(lines) < len(tt.want) {
				t.Fatalf("got %d error lines, want at least %d:\n%s", len(lines), len(tt.want), got)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q\nwant it to contain %q\nall:\n%s", i, lines[i], w, got)
				}
			}
		})
	}
}

func TestShippedConfigs(t *testing.T) {
	t.Setenv(EnvThingName, "stirling-pi-1")
	for _, name := range []string{"sim.yaml", "agent.yaml", EmbeddedPrefix + "sim.yaml", EmbeddedPrefix + "agent.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if c.Device.ThingName == "" {
				t.Error("no thing name")
			}
			if strings.Contains(name, "sim") {
				if c.Sensors.Bus != BusSim || c.Publishers[0].Type != TypeStdout || c.HTTP.Listen != "127.0.0.1:8080" || c.ROIsDefaulted {
					t.Errorf("sim config: %+v", c)
				}
				if c.ROIs != DefaultROIs() {
					t.Errorf("rois.yaml %+v differs from DefaultROIs", c.ROIs)
				}
			} else {
				if c.Sensors.Bus != BusHardware || c.Publishers[0].Greengrass == nil || c.Device.ThingName != "stirling-pi-1" {
					t.Errorf("agent config: %+v", c)
				}
				if !c.ROIsDefaulted || c.ROIs != DefaultROIs() {
					t.Errorf("agent ROI file should be missing on this machine and default: %v %+v", c.ROIsDefaulted, c.ROIs)
				}
			}
			// The effective config parses back to the same config.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(name, out)
			if err != nil {
				t.Fatalf("effective config does not parse: %v\n%s", err, out)
			}
			out2, _ := again.Marshal()
			if string(out) != string(out2) {
				t.Errorf("effective config not stable:\n%s\n---\n%s", out, out2)
			}
		})
	}
}

func TestThingNameFromEnv(t *testing.T) {
	t.Setenv(EnvThingName, "core-7")
	c, err := Parse("t.yaml", []byte("publishers:\n  - type: mqtt\n    endpoint: h:8883\n    cert_file: c\n    key_file: k\n    ca_file: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The client ID stays empty: the publisher derives "<thing>-stirling",
	// never the thing name itself (that is the nucleus's client ID).
	if c.Device.ThingName != "core-7" || c.Publishers[0].MQTT.ClientID != "" {
		t.Errorf("thing %q client %q", c.Device.ThingName, c.Publishers[0].MQTT.ClientID)
	}
}

func TestFromMap(t *testing.T) {
	t.Setenv(EnvThingName, "gg-core")
	m := map[string]any{
		"sensors":    map[string]any{"bus": "sim"},
		"rois_file":  filepath.Join(t.TempDir(), "rois.yaml"),
		"publishers": []any{map[string]any{"type": "greengrass", "layout": "sample"}},
		"pipeline":   map[string]any{"window": "2s", "batch": map[string]any{"max_readings": 250.0, "max_bytes": 40000.0}},
		"spool":      map[string]any{"max_bytes": 16777217.0},
		"sensors_":   nil,
	}
	delete(m, "sensors_")
	c, err := FromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pipeline.Window != 2*time.Second || c.Publishers[0].Greengrass.Layout != LayoutSample ||
		c.Pipeline.Batch.MaxReadings != 250 || c.Pipeline.Batch.MaxBytes != 40000 || c.Spool.MaxBytes != 16777217 {
		t.Errorf("got %+v", c)
	}
	m["pipeline"] = map[string]any{"batch": map[string]any{"max_readings": 2.5}}
	if _, err := FromMap(m); err == nil || !strings.Contains(err.Error(), `pipeline.batch.max_readings: "2.5" is not an integer`) {
		t.Fatalf("fractional integer accepted: %v", err)
	}
	m["pipeline"] = map[string]any{"window": "2s", "windw": 1}
	_, err = FromMap(m)
	if err == nil || !strings.Contains(err.Error(), "pipeline.windw: unknown key") {
		t.Fatalf("FromMap error = %v", err)
	}
}

func TestLoadROIs(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"ok", "hot_cylinder: {x: 0, y: 0, w: 4, h: 4}\ncold_cylinder: {x: 10, y: 0, w: 4, h: 4}\nflame: {x: 0, y: 10, w: 4, h: 4}\n", ""},
		{"unknown key", "hot_cylinder: {x: 0, y: 0, w: 4, h: 4, z: 1}\n", "r.yaml:1: hot_cylinder.z: unknown key; want one of x, y, w, h"},
		{"missing field", "hot_cylinder: {x: 0, y: 0, w: 4}\ncold_cylinder: {x: 10, y: 0, w: 4, h: 4}\nflame: {x: 0, y: 10, w: 4, h: 4}\n", "r.yaml:1: hot_cylinder.h: missing"},
		{"outside frame", "hot_cylinder: {x: 30, y: 0, w: 4, h: 4}\ncold_cylinder: {x: 10, y: 0, w: 4, h: 4}\nflame: {x: 0, y: 10, w: 4, h: 4}\n", "r.yaml:1: hot_cylinder: invalid region of interest: x=30 y=0 w=4 h=4 leaves the 32x24 frame"},
		{"overlap", "hot_cylinder: {x: 0, y: 0, w: 4, h: 4}\ncold_cylinder: {x: 2, y: 2, w: 4, h: 4}\nflame: {x: 0, y: 10, w: 4, h: 4}\n", "r.yaml: invalid region of interest: hot_cylinder and cold_cylinder overlap"},
		{"wrong type", "hot_cylinder: {x: a, y: 0, w: 4, h: 4}\n", `r.yaml:1: hot_cylinder.x: "a" is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := LoadROIs(p)
			if tt.want == "" {
				if err != nil || r.Flame != (sensors.ROI{X: 0, Y: 10, W: 4, H: 4}) {
					t.Fatalf("got %+v, %v", r, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.ReplaceAll(err.Error(), p, "r.yaml")
			if !strings.Contains(got, tt.want) {
				t.Errorf("error %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestROIsFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	rois := "hot_cylinder: {x: 0, y: 0, w: 4, h: 4}\ncold_cylinder: {x: 10, y: 0, w: 4, h: 4}\nflame: {x: 0, y: 10, w: 4, h: 4}\n"
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(rois), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte(base+"rois_file: mine.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.ROIsPath != filepath.Join(dir, "mine.yaml") || c.ROIsDefaulted || c.ROIs.ColdCylinder.X != 10 {
		t.Errorf("path %q defaulted %v rois %+v", c.ROIsPath, c.ROIsDefaulted, c.ROIs)
	}
	// A broken ROI file is reported against its own name and line.
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(strings.Replace(rois, "x: 0", "x: -1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(cfg)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "mine.yaml")+":1:") {
		t.Fatalf("error %v", err)
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"4096", 4096, true}, {"64KiB", 64 << 10, true}, {"16MiB", 16 << 20, true}, {"1GiB", 1 << 30, true},
		{"10MB", 10e6, true}, {"500kB", 500e3, true}, {"12B", 12, true}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"lots", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseSize(%q) = %v, %v", tt.in, got, err)
			}
			if tt.ok {
				back, err := ParseSize(got.String())
				if err != nil || back != got {
					t.Errorf("%v does not round-trip: %v %v", got, back, err)
				}
			}
		})
	}
}

// TestHTTPListenAndLivezWindow: an absent http.listen takes the default,
// an explicit "" stays empty (the agent then serves nothing), and
// http.livez_window is derived from the pipeline unless set.
func TestHTTPListenAndLivezWindow(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		listen string
		window time.Duration
	}{
		{"defaults", base, "127.0.0.1:8080", 10 * time.Second},
		{"explicit empty listen is off", base + "http:\n  listen: \"\"\n", "", 10 * time.Second},
		{"derived from window and latency", base + "pipeline:\n  window: 2s\n  batch: {max_latency: 5s}\n", "127.0.0.1:8080", 21 * time.Second},
		{"a deadband adds the heartbeat", base + "pipeline:\n  heartbeat: 1m\n  metrics:\n    rpm: {deadband: 5}\n", "127.0.0.1:8080", 69 * time.Second},
		{"set", base + "http:\n  livez_window: 45s\n", "127.0.0.1:8080", 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP.Listen != tt.listen || c.LivezWindow() != tt.window {
				t.Fatalf("listen %q, livez window %v; want %q, %v", c.HTTP.Listen, c.LivezWindow(), tt.listen, tt.window)
			}
		})
	}
	if _, err := Parse("t.yaml", []byte(base+"http:\n  livez_window: 10ms\n")); err == nil || !strings.Contains(err.Error(), "http.livez_window") {
		t.Fatalf("livez_window 10ms: %v; want an error naming http.livez_window", err)
	}
}
