package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/internal/testsrv/agenttest"
	"github.com/stirling-iot/stirling/internal/testsrv/ipctest"
)

// TestGreengrassComponent runs the agent the way the recipe's Run step does
// (`run --config greengrass:configuration`, with the nucleus's environment)
// against a local IPC server that speaks the nucleus's protocol: the
// configuration comes over IPC, the agent reports RUNNING, readings are
// published to IoT Core on the thing's topic, a valid deployment change
// restarts the stages in process, an invalid one is refused while the agent
// keeps running, and SIGTERM still exits 0.
func TestGreengrassComponent(t *testing.T) {
	t.Parallel()
	const token = "svcuid-test-token"
	nucleus := ipctest.New(t, token)
	dir := t.TempDir()
	c := baseConfig(dir, 50)
	delete(c, "rois_file")
	c.set("device.thing_name", "")
	c["publishers"] = []any{map[string]any{"type": "greengrass", "topic": "dt/stirling/{thing}/telemetry", "destination": "iotcore"}}
	// What GetConfiguration returns: JSON, as the nucleus stores it.
	b, err := json.Marshal(map[string]any(c))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["rois"] = map[string]any{
		"hot_cylinder":  map[string]any{"x": 4, "y": 6, "w": 8, "h": 8},
		"cold_cylinder": map[string]any{"x": 20, "y": 6, "w": 8, "h": 8},
		"flame":         map[string]any{"x": 5, "y": 16, "w": 6, "h": 6},
	}
	doc["accessControl"] = map[string]any{"aws.greengrass.ipc.mqttproxy": map[string]any{}}
	nucleus.SetConfig(nil, doc)

	// A config file that must NOT be used.
	decoy := filepath.Join(dir, "agent.yaml")
	p := start(t, decoy, agenttest.Opts{
		Args: []string{"--config", "greengrass:configuration"},
		Env: []string{
			"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=" + nucleus.Path,
			"SVCUID=" + token,
			"AWS_IOT_THING_NAME=pi-test",
			"AWS_REGION=eu-west-1",
		},
	})
	p.Stderr.Wait(t, regexp.MustCompile(`configuration read from Greengrass IPC`), 15*time.Second)
	p.WaitReady(15 * time.Second)
	poll(t, 20*time.Second, "readings published to IoT Core", func() (bool, string) {
		pubs := nucleus.Publishes()
		return len(pubs) >= 3, fmt.Sprintf("%d publishes", len(pubs))
	})
	for _, pub := range nucleus.Publishes() {
		if pub.Op != "PublishToIoTCore" || pub.Topic != "dt/stirling/pi-test/telemetry" || pub.QoS != "1" {
			t.Errorf("publish %s to %q QoS %s; want PublishToIoTCore to dt/stirling/pi-test/telemetry QoS 1", pub.Op, pub.Topic, pub.QoS)
			break
		}
		if !json.Valid(pub.Payload) {
			t.Errorf("payload is not JSON: %.200q", pub.Payload)
			break
		}
	}
	if !slices.Contains(nucleus.States(), "RUNNING") {
		t.Errorf("the agent never reported RUNNING; states %v", nucleus.States())
	}

	// A valid deployment change: the stages restart with it.
	nucleus.SetConfig([]string{"pipeline", "window"}, "2s")
	p.Stderr.Wait(t, regexp.MustCompile(`configuration changed: restarting the agent's stages`), 15*time.Second)
	before := len(nucleus.Publishes())
	poll(t, 20*time.Second, "publishing again after the restart", func() (bool, string) {
		n := len(nucleus.Publishes())
		return n > before, fmt.Sprintf("%d publishes (had %d)", n, before)
	})

	// An invalid one is refused with the key, and the agent keeps going.
	nucleus.SetConfig([]string{"pipeline", "windw"}, "3s")
	m := p.Stderr.Wait(t, regexp.MustCompile(`deployment configuration rejected: keeping the running one[^\n]*`), 15*time.Second)
	if !strings.Contains(m[0], "pipeline.windw") {
		t.Errorf("rejection does not name the key pipeline.windw: %s", m[0])
	}
	before = len(nucleus.Publishes())
	poll(t, 20*time.Second, "still publishing after a refused change", func() (bool, string) {
		n := len(nucleus.Publishes())
		return n > before, fmt.Sprintf("%d publishes (had %d)", n, before)
	})

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
	if v := nucleus.Violations(); len(v) > 0 {
		t.Errorf("IPC protocol violations: %v", v)
	}
	if strings.Contains(p.Stderr.String(), decoy) {
		t.Errorf("the agent mentions the config file although the configuration came over IPC")
	}
}

// TestRecipeDefaultConfiguration: the configuration `stirling recipe`
// renders into the recipe is what the agent gets over IPC on every device
// of the fleet. With the simulator swapped in (as a deployment's MERGE
// would) it must run, and publish on the device's own thing name: the one
// Greengrass sets in AWS_IOT_THING_NAME and the recipe's accessControl
// grants ({iot:thingName}).
func TestRecipeDefaultConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	recipePath := filepath.Join(dir, "recipe.yaml")
	out, err := exec.Command(stirlingBin, "recipe", "--artifacts", "s3://stirling-test-bucket", "--version", "1.0.0", "-o", recipePath).CombinedOutput()
	if err != nil {
		t.Fatalf("stirling recipe: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(recipePath)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		ComponentConfiguration struct {
			DefaultConfiguration map[string]any `yaml:"DefaultConfiguration"`
		} `yaml:"ComponentConfiguration"`
	}
	if err := yaml.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r.ComponentConfiguration.DefaultConfiguration)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if tn, _ := doc["device"].(map[string]any)["thing_name"].(string); tn != "" {
		t.Errorf("the recipe's DefaultConfiguration pins device.thing_name to %q; every device would publish as that thing (want empty: AWS_IOT_THING_NAME)", tn)
	}
	// The deployment's MERGE for a machine without a Pi's sensors.
	sensors := doc["sensors"].(map[string]any)
	sensors["bus"] = "sim"
	sensors["sim"].(map[string]any)["speedup"] = 50
	doc["spool"].(map[string]any)["dir"] = filepath.Join(dir, "spool")
	doc["http"].(map[string]any)["listen"] = "127.0.0.1:0"
	doc["rois_file"] = filepath.Join(dir, "rois.yaml")

	const token = "svcuid-recipe"
	nucleus := ipctest.New(t, token)
	nucleus.SetConfig(nil, doc)
	p := start(t, filepath.Join(dir, "unused.yaml"), agenttest.Opts{
		Args: []string{"--config", "greengrass:configuration"},
		Env: []string{
			"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=" + nucleus.Path,
			"SVCUID=" + token,
			"AWS_IOT_THING_NAME=pi-fleet-7",
			"AWS_REGION=eu-west-1",
		},
	})
	p.Stderr.Wait(t, regexp.MustCompile(`configuration read from Greengrass IPC`), 15*time.Second)
	poll(t, 20*time.Second, "a publish to IoT Core", func() (bool, string) {
		return len(nucleus.Publishes()) > 0, "none yet"
	})
	if got := nucleus.Publishes()[0].Topic; got != "dt/stirling/pi-fleet-7/telemetry" {
		t.Errorf("published to %q; want dt/stirling/pi-fleet-7/telemetry (the device's thing name)", got)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
}
