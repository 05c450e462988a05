package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/testsrv/tlstest"
	"github.com/stirling-iot/stirling/publish/greengrass"
	mqttpkg "github.com/stirling-iot/stirling/publish/mqtt"
	"github.com/stirling-iot/stirling/recipe"
)

// runCmd runs the stirling command line in process and returns its exit
// code, stdout and stderr (an error not already printed is appended to
// stderr).
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	code := 0
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		code = exitCode(err)
		if !errors.Is(err, errUsageShown) {
			stderr.WriteString(err.Error())
		}
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigCheckIsTheRunGate: every check `run` makes at start (publisher
// options, endpoint, certificate files, the recipe's topic grant) also
// fails `config check`, as FILE:LINE: KEY: MESSAGE, without any network.
func TestConfigCheckIsTheRunGate(t *testing.T) {
	// Not under Greengrass: no nucleus identity to fall back on.
	for _, k := range []string{"AWS_IOT_THING_NAME", "SVCUID", "GG_ROOT_CA_PATH", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	certs := tlstest.New(t)
	otherCert, otherKey := certs.Issue(t, "someone-else")
	_ = otherCert
	dir := t.TempDir()
	notPEM := writeFile(t, filepath.Join(dir, "not.pem"), "not a certificate\n")
	head := "device:\n  thing_name: pi-01\npublishers:\n"
	mqtt := func(lines ...string) string {
		return head + "  - type: mqtt\n" + strings.Join(lines, "")
	}
	ep := "    endpoint: abc123-ats.iot.eu-west-1.amazonaws.com:8883\n"
	pair := "    cert_file: " + certs.ClientCert + "\n    key_file: " + certs.ClientKey + "\n"
	tests := []struct {
		name   string
		args   []string // before FILE
		config string
		code   int
		stderr []string
		stdout []string
	}{
		{"mqtt without endpoint or certificate", nil, mqtt("    layout: batch\n"), 1, []string{
			":4: publishers[0].endpoint: empty",
		}, nil},
		{"mqtt without certificate", nil, mqtt(ep), 1, []string{
			":4: publishers[0].cert_file: empty",
		}, nil},
		{"mqtt certificate missing", nil, mqtt(ep, "    cert_file: "+filepath.Join(dir, "nope.pem")+"\n    key_file: "+certs.ClientKey+"\n"), 1, []string{
			":6: publishers[0].cert_file: ", "no such file",
		}, nil},
		{"mqtt key does not match", nil, mqtt(ep, "    cert_file: "+certs.ClientCert+"\n    key_file: "+otherKey+"\n"), 1, []string{
			":7: publishers[0].key_file: ", "does not match the certificate",
		}, nil},
		{"mqtt certificate not PEM", nil, mqtt(ep, "    cert_file: "+notPEM+"\n    key_file: "+certs.ClientKey+"\n"), 1, []string{
			":6: publishers[0].cert_file: ",
		}, nil},
		{"mqtt CA not PEM", nil, mqtt(ep, pair, "    ca_file: "+notPEM+"\n"), 1, []string{
			":8: publishers[0].ca_file: ", "no PEM certificates",
		}, nil},
		{"mqtt complete", nil, mqtt(ep, pair, "    ca_file: "+certs.CAFile+"\n"), 0, nil, []string{
			"topic: dt/stirling/{thing}/telemetry",
		}},
		{"greengrass default topic in the shipped recipe's grant", []string{"--recipe", "../../recipe.yaml"},
			head + "  - type: greengrass\n", 0, nil, []string{"topic: dt/stirling/{thing}/telemetry"}},
		{"greengrass topic outside the shipped recipe's grant", []string{"--recipe", "../../recipe.yaml"},
			head + "  - type: greengrass\n    topic: stirling/{thing}/telemetry\n", 1, []string{
				":5: publishers[0].topic: ", "not allowed by the recipe", "dt/stirling/{iot:thingName}/#",
			}, nil},
		{"greengrass topic outside --topic-prefix", []string{"--topic-prefix", "dt/stirling/{iot:thingName}"},
			head + "  - type: greengrass\n    topic: other/{thing}/x\n", 1, []string{
				":5: publishers[0].topic: ",
			}, nil},
		{"sitewise endpoint over http", nil, head + "  - type: sitewise\n    endpoint: http://sitewise.example.com\n", 1, []string{
			":5: publishers[0].endpoint: ", "https",
		}, nil},
		{"sitewise endpoint over http on loopback", nil, head + "  - type: sitewise\n    endpoint: http://127.0.0.1:9\n", 0, nil, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, filepath.Join(dir, "c"+string(rune('a'+i))+".yaml"), tc.config)
			code, stdout, stderr := runCmd(t, append(append([]string{"config", "check"}, tc.args...), f)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tc.code != 0 && !strings.HasPrefix(stderr, f+":") {
				t.Errorf("stderr does not start with %s: (FILE:LINE: KEY: MESSAGE):\n%s", f, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestDefaultTopicInsideTheGrant: the default topic is one value in the
// configuration, both drivers and the recipe's default grant.
func TestDefaultTopicInsideTheGrant(t *testing.T) {
	for name, topic := range map[string]string{
		"configs mqtt":       configsDefault(t, "mqtt"),
		"configs greengrass": configsDefault(t, "greengrass"),
		"mqtt":               mqttpkg.DefaultTopic,
		"greengrass":         greengrass.DefaultTopic,
	} {
		if topic != configs.DefaultTopic {
			t.Errorf("%s default topic %q; want %q", name, topic, configs.DefaultTopic)
		}
	}
	g := recipe.Grants{IoTCore: []string{recipe.DefaultTopicPrefix + "/#"}}
	if !g.AllowsIoTCore(configs.DefaultTopic, "") || !g.AllowsIoTCore(configs.DefaultTopic, "pi-01") {
		t.Errorf("%q is outside the recipe's default grant %q", configs.DefaultTopic, g.IoTCore)
	}
	b, err := os.ReadFile("../../recipe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := recipe.ParseGrants(b)
	if err != nil {
		t.Fatal(err)
	}
	if !shipped.AllowsIoTCore(configs.DefaultTopic, "pi-01") || shipped.AllowsIoTCore("stirling/{thing}/telemetry", "pi-01") {
		t.Errorf("recipe.yaml grants %q: want the default topic allowed and the old stirling/{thing}/telemetry not", shipped.IoTCore)
	}
}

func configsDefault(t *testing.T, typ string) string {
	t.Helper()
	c, err := configs.Parse("x.yaml", []byte("device: {thing_name: pi-01}\npublishers: [{type: "+typ+"}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Publishers[0]; p.MQTT != nil {
		return p.MQTT.Topic
	}
	return c.Publishers[0].Greengrass.Topic
}

// TestConfigCheckFilePublisherDir: the file publisher's directory is
// created by run, so only an unusable ancestor is an error.
func TestConfigCheckFilePublisherDir(t *testing.T) {
	dir := t.TempDir()
	notDir := writeFile(t, filepath.Join(dir, "plain"), "")
	for _, tc := range []struct {
		path string
		code int
	}{
		{filepath.Join(dir, "new", "sub", "readings.jsonl"), 0},
		{filepath.Join(notDir, "readings.jsonl"), 1},
	} {
		f := writeFile(t, filepath.Join(dir, "c.yaml"), "publishers:\n  - type: file\n    path: "+tc.path+"\n")
		code, _, stderr := runCmd(t, "config", "check", f)
		if code != tc.code {
			t.Errorf("path %s: exit %d, want %d: %s", tc.path, code, tc.code, stderr)
		}
		if tc.code != 0 && !strings.Contains(stderr, f+":3: publishers[0].path: ") {
			t.Errorf("stderr %q lacks %s:3: publishers[0].path", stderr, f)
		}
	}
}

// TestRunFailsAtTheSameGate: run refuses what config check refuses, with
// the same FILE:LINE: KEY, before it opens the spool or any sensor.
func TestRunFailsAtTheSameGate(t *testing.T) {
	for _, k := range []string{"AWS_IOT_THING_NAME", "SVCUID", "GG_ROOT_CA_PATH", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	f := writeFile(t, filepath.Join(dir, "c.yaml"), "device:\n  thing_name: pi-01\npublishers:\n  - type: mqtt\nspool:\n  dir: "+spool+"\nhttp:\n  listen: \"\"\n")
	_, _, checkErr := runCmd(t, "config", "check", f)
	code, _, runErr := runCmd(t, "run", "--config", f, "--stop-after", "1s")
	want := f + ":4: publishers[0].endpoint: empty"
	if code == 0 || !strings.Contains(runErr, want) || !strings.Contains(checkErr, want) {
		t.Fatalf("run: exit %d, %q; config check: %q; want both to say %q", code, runErr, checkErr, want)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Errorf("run created the spool before refusing the configuration (%v)", err)
	}
}
