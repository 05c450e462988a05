package recipe

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/configs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// loadConfig loads an agent configuration as `stirling recipe` does
// (configs.LoadFleet), on a machine whose AWS_IOT_THING_NAME must not leak
// into the fleet-wide recipe.
func loadConfig(t *testing.T, name string) *configs.Config {
	t.Helper()
	t.Setenv(configs.EnvThingName, "pi-engine-7")
	c, err := configs.LoadFleet(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func render(t *testing.T, o Opts, cfgName string) []byte {
	t.Helper()
	m, err := ConfigMap(loadConfig(t, cfgName))
	if err != nil {
		t.Fatal(err)
	}
	o.Config = m
	r, err := Render(&o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		config string
		opts   Opts
	}{
		{"agent", "embedded:agent.yaml", Opts{Version: "1.4.0", Artifacts: "s3://stirling-artifacts/releases"}},
		{"sitewise", "testdata/sitewise.yaml", Opts{Version: "2.0.0-rc.1", Artifacts: "s3://acme-gg/stirling/", BasicIngestRule: "StirlingToSiteWise"}},
		{"stdout", "testdata/stdout.yaml", Opts{Name: "com.acme.Engine", Version: "0.1.0", Artifacts: "s3://acme-gg"}},
		{"prefix", "testdata/sitewise.yaml", Opts{Version: "1.0.0", Artifacts: "s3://acme-gg", TopicPrefix: "dt/stirling/{iot:thingName}"}},
		{"wildcard", "embedded:agent.yaml", Opts{Version: "1.0.0", Artifacts: "s3://acme-gg", TopicPrefix: "dt/stirling/+"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.opts, tc.config)
			if probs := Validate(got, nil); len(probs) > 0 {
				t.Errorf("rendered recipe has problems: %v", probs)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./recipe -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered recipe differs from %s (run go test ./recipe -update after checking the change):\n%s", golden, got)
			}
		})
	}
}

// TestRenderContents checks the rules the golden files encode, so a
// careless -update cannot lose them.
func TestRenderContents(t *testing.T) {
	type dep struct {
		VersionRequirement string `yaml:"VersionRequirement"`
		DependencyType     string `yaml:"DependencyType"`
	}
	type doc struct {
		ComponentConfiguration struct {
			DefaultConfiguration map[string]any `yaml:"DefaultConfiguration"`
		} `yaml:"ComponentConfiguration"`
		ComponentDependencies map[string]dep `yaml:"ComponentDependencies"`
		Manifests             []struct {
			Platform  map[string]string `yaml:"Platform"`
			Lifecycle struct {
				Run struct {
					Script            string `yaml:"Script"`
					RequiresPrivilege bool   `yaml:"RequiresPrivilege"`
				} `yaml:"Run"`
			} `yaml:"Lifecycle"`
			Artifacts []map[string]any `yaml:"Artifacts"`
		} `yaml:"Manifests"`
	}
	parse := func(t *testing.T, b []byte) doc {
		var d doc
		if err := yaml.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	resources := func(d doc, svc string) []any {
		ac, _ := d.ComponentConfiguration.DefaultConfiguration[AccessControlKey].(map[string]any)
		s, _ := ac[svc].(map[string]any)
		for _, p := range s {
			r, _ := p.(map[string]any)["resources"].([]any)
			return r
		}
		return nil
	}
	t.Run("agent", func(t *testing.T) {
		d := parse(t, render(t, Opts{Version: "1.4.0", Artifacts: "s3://b-1/p"}, "embedded:agent.yaml"))
		if len(d.Manifests) != 2 || d.Manifests[0].Platform["architecture"] != "aarch64" || d.Manifests[1].Platform["architecture"] != "arm" {
			t.Fatalf("manifests %+v, want aarch64 then arm", d.Manifests)
		}
		for i, m := range d.Manifests {
			file := Targets()[i].File
			if !strings.HasPrefix(m.Lifecycle.Run.Script, "exec {artifacts:path}/"+file+" run ") || m.Lifecycle.Run.RequiresPrivilege {
				t.Errorf("manifest %d Run %+v", i, m.Lifecycle.Run)
			}
			if m.Artifacts[0]["URI"] != "s3://b-1/p/com.stirling.Agent/1.4.0/"+file {
				t.Errorf("manifest %d artifact %v", i, m.Artifacts[0]["URI"])
			}
			if _, ok := m.Artifacts[0]["Digest"]; ok {
				t.Errorf("manifest %d has a digest", i)
			}
		}
		if got := resources(d, ServiceMQTTProxy); len(got) != 1 || got[0] != "dt/stirling/{iot:thingName}/#" {
			t.Errorf("mqttproxy resources %v, want the agent topic's space only", got)
		}
		if _, ok := d.ComponentDependencies[TESComponent]; ok {
			t.Error("TES dependency without a SiteWise publisher")
		}
		if n := d.ComponentDependencies[NucleusComponent]; n.DependencyType != Soft || n.VersionRequirement != DefaultNucleus {
			t.Errorf("nucleus dependency %+v", n)
		}
		dev := d.ComponentConfiguration.DefaultConfiguration["device"].(map[string]any)
		if dev["thing_name"] != "" {
			t.Errorf("thing name %q baked into a fleet recipe", dev["thing_name"])
		}
	})
	t.Run("sitewise", func(t *testing.T) {
		d := parse(t, render(t, Opts{Version: "1.0.0", Artifacts: "s3://b-1", BasicIngestRule: "R1"}, "testdata/sitewise.yaml"))
		if tes := d.ComponentDependencies[TESComponent]; tes.DependencyType != Hard {
			t.Errorf("TES dependency %+v, want HARD", tes)
		}
		want := []any{"dt/stirling/{iot:thingName}/#", "$aws/rules/R1/dt/stirling/{iot:thingName}/#"}
		if got := resources(d, ServiceMQTTProxy); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("mqttproxy resources %v, want %v", got, want)
		}
		if got := resources(d, ServicePubSub); len(got) != 1 || got[0] != "stirling/*/local" {
			t.Errorf("pubsub resources %v, want stirling/*/local", got)
		}
	})
}

// TestConfigThroughNucleus stores the DefaultConfiguration as the nucleus
// does (JSON, numbers as doubles), reads it back as the agent does
// (configs.FromMap without accessControl) and expects the same
// configuration.
func TestConfigThroughNucleus(t *testing.T) {
	for _, name := range []string{"embedded:agent.yaml", "embedded:sim.yaml", "testdata/sitewise.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			m, err := ConfigMap(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Render(&Opts{Version: "1.0.0", Artifacts: "s3://bucket", Config: m})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(r.ComponentConfiguration.DefaultConfiguration)
			if err != nil {
				t.Fatal(err)
			}
			var stored map[string]any
			if err := json.Unmarshal(b, &stored); err != nil {
				t.Fatal(err)
			}
			delete(stored, AccessControlKey)
			back, err := configs.FromMap(stored)
			if err != nil {
				t.Fatalf("the agent rejects its own DefaultConfiguration: %v", err)
			}
			// On the device the agent takes the thing name from
			// AWS_IOT_THING_NAME; everything else must come back as is.
			if cfg.Device.ThingName == "" {
				cfg.Device.ThingName = os.Getenv(configs.EnvThingName)
			}
			want, _ := cfg.Marshal()
			got, _ := back.Marshal()
			// ROIs are resolved relative to the source; compare the YAML.
			if !bytes.Equal(want, got) {
				t.Errorf("configuration changed through the nucleus:\nwant:\n%s\ngot:\n%s", want, got)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	cfg, err := configs.LoadFleet("testdata/sitewise.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ConfigMap(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Opts
		want string
	}{
		{"no version", Opts{Artifacts: "s3://bucket"}, `version "" is not semver`},
		{"v prefix", Opts{Version: "v1.0.0", Artifacts: "s3://bucket"}, "not semver"},
		{"two parts", Opts{Version: "1.0", Artifacts: "s3://bucket"}, "not semver"},
		{"https artifacts", Opts{Version: "1.0.0", Artifacts: "https://bucket.s3.amazonaws.com/x"}, "is not an s3:// URI"},
		{"bucket case", Opts{Version: "1.0.0", Artifacts: "s3://My_Bucket/x"}, "invalid bucket name"},
		{"aws name", Opts{Name: "aws.greengrass.Stirling", Version: "1.0.0", Artifacts: "s3://bucket"}, "aws.greengrass prefix"},
		{"rule", Opts{Version: "1.0.0", Artifacts: "s3://bucket", BasicIngestRule: "my-rule"}, "basic ingest rule"},
		{"outside prefix", Opts{Version: "1.0.0", Artifacts: "s3://bucket", TopicPrefix: "stirling/{iot:thingName}"}, `publishers[0].topic "dt/stirling/{thing}/telemetry" is outside the topic prefix`},
		{"access control given", Opts{Version: "1.0.0", Artifacts: "s3://bucket", Config: map[string]any{AccessControlKey: map[string]any{}}}, "already has accessControl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Config == nil {
				tc.opts.Config = m
			}
			_, err := Render(&tc.opts)
			if !errors.Is(err, ErrOpts) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Render = %v, want ErrOpts containing %q", err, tc.want)
			}
		})
	}
}

func TestTopicSpace(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"stirling/{thing}/telemetry", "stirling/{iot:thingName}/#"},
		{"dt/stirling/{thing}/telemetry/batch", "dt/stirling/{iot:thingName}/#"},
		{"{thing}/readings", "{iot:thingName}/#"},
		{"dt/stirling/site-{thing}/x", "dt/stirling/site-{iot:thingName}/#"},
		{"dt/stirling/all", "dt/stirling/all"},
		{"$aws/rules/R/dt/{thing}/x", "$aws/rules/R/dt/{iot:thingName}/#"},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			if got := topicSpace(tc.topic); got != tc.want {
				t.Fatalf("topicSpace = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"stirling/+/#", "stirling/{iot:thingName}/telemetry", true},
		{"stirling/+/#", "stirling/{iot:thingName}", true},
		{"stirling/+/#", "other/x/telemetry", false},
		{"dt/stirling/{iot:thingName}/#", "dt/stirling/{iot:thingName}/telemetry", true},
		{"dt/stirling/{iot:thingName}/#", "dt/stirling2/{iot:thingName}/telemetry", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
	}
	for _, tc := range tests {
		if got := matchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}
