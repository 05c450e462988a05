package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"dt/stirling/pi-01/telemetry", true},
		{"a/b/c/d/e/f/g/h", true}, // 7 slashes
		{"a/b/c/d/e/f/g/h/i", false},
		{"/dt/stirling", false},
		{"dt/stirling/", false},
		{"dt//stirling", false},
		{"dt/+/x", false},
		{"dt/#", false},
		{"", false},
		{strings.Repeat("a", 256), true},
		{strings.Repeat("a", 257), false},
		{"dt/bad\xff", false},
		{"dt/nul\x00", false},
		{"$aws/things/pi-01/shadow/update", false},
		{"$aws/rules/EngineToSiteWise", true},
		{"$aws/rules/EngineToSiteWise/dt/stirling/pi-01/telemetry", true},
		{"$aws/rules/Engine/a/b/c/d/e/f/g/h", true}, // the prefix does not count
		{"$aws/rules/Engine/a/b/c/d/e/f/g/h/i", false},
		{"$aws/rules/Engine/" + strings.Repeat("a", 256), true},
		{"$aws/rules/Engine/" + strings.Repeat("a", 257), false},
		{"$aws/rules/Engine/", false},
		{"$aws/rules/bad-rule/x", false},
		{"$aws/rules//x", false},
	}
	for _, tt := range tests {
		name := tt.topic
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		t.Run(name, func(t *testing.T) {
			err := ValidateTopic(tt.topic)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateTopic(%q) = %v, want ok=%v", tt.topic, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrTopic) {
				t.Errorf("error %v does not wrap ErrTopic", err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	base := Opts{Endpoint: "abc-ats.iot.eu-west-1.amazonaws.com", Thing: "pi-01", CertFile: "c", KeyFile: "k"}
	noEnv := func(string) string { return "" }
	never := func(string) bool { return false }
	tests := []struct {
		name  string
		mod   func(*Opts)
		check func(*testing.T, Opts)
		bad   string // substring of the error; empty means success
	}{
		{"defaults", nil, func(t *testing.T, o Opts) {
			if o.Endpoint != "abc-ats.iot.eu-west-1.amazonaws.com:8883" || o.ClientID != "pi-01-stirling" ||
				o.Topic != "dt/stirling/pi-01/telemetry" || o.Layout != Batch || o.KeepAlive != time.Minute ||
				o.InFlight != 100 || o.MaxPayload != 128*1024 || o.MaxRate != 100 || o.ReconnectInterval != 250*time.Millisecond {
				t.Errorf("defaults: %+v", o)
			}
		}, ""},
		{"basic ingest", func(o *Opts) { o.BasicIngestRule = "EngineToSiteWise" }, func(t *testing.T, o Opts) {
			if o.Topic != "$aws/rules/EngineToSiteWise/dt/stirling/pi-01/telemetry" {
				t.Errorf("topic %q", o.Topic)
			}
		}, ""},
		{"port 443", func(o *Opts) { o.Endpoint = "abc:443" }, nil, ""},
		{"bad rule", func(o *Opts) { o.BasicIngestRule = "a-b" }, nil, "rule name"},
		{"long client id", func(o *Opts) { o.ClientID = strings.Repeat("c", 129) }, nil, "client ID"},
		{"no thing", func(o *Opts) { o.Thing = "" }, nil, "thing name"},
		{"no endpoint", func(o *Opts) { o.Endpoint = "" }, nil, "endpoint"},
		{"bad port", func(o *Opts) { o.Endpoint = "h:99999" }, nil, "bad port"},
		{"keepalive low", func(o *Opts) { o.KeepAlive = 10 * time.Second }, nil, "keepalive"},
		{"keepalive high", func(o *Opts) { o.KeepAlive = time.Hour }, nil, "keepalive"},
		{"window", func(o *Opts) { o.InFlight = 101 }, nil, "in-flight"},
		{"payload", func(o *Opts) { o.MaxPayload = 200 * 1024 }, nil, "max payload"},
		{"layout", func(o *Opts) { o.Layout = "csv" }, nil, "layout"},
		{"topic", func(o *Opts) { o.Topic = "/x" }, nil, "leading slash"},
		{"no key", func(o *Opts) { o.KeyFile = "" }, nil, "key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			if tt.mod != nil {
				tt.mod(&o)
			}
			got, err := resolve(o, noEnv, never)
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestGreengrassIdentity(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AWS_IOT_THING_NAME": "pi-01",
		"GG_ROOT_CA_PATH":    filepath.Join(root, "rootCA.pem"),
		"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": filepath.Join(root, "ipc.socket"),
	}
	getenv := func(k string) string { return env[k] }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	// Without the effective config: installer file names.
	for _, f := range []string{"thingCert.crt", "privKey.key"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id := Greengrass(getenv, exists)
	if id.Root != root || id.CertFile != filepath.Join(root, "thingCert.crt") || id.KeyFile != filepath.Join(root, "privKey.key") || id.CAFile != env["GG_ROOT_CA_PATH"] || id.Endpoint != "" {
		t.Errorf("from files: %+v", id)
	}

	// With the effective config: its paths and endpoint win.
	conf := `system:
  certificateFilePath: /gg/device.pem.crt
  privateKeyPath: /gg/private.pem.key
  rootCaPath: /gg/AmazonRootCA1.pem
  thingName: pi-01
services:
  aws.greengrass.Nucleus:
    configuration:
      iotDataEndpoint: abc-ats.iot.eu-west-1.amazonaws.com
      mqtt:
        port: 443
`
	if err := os.WriteFile(filepath.Join(root, "config", "effectiveConfig.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	id = Greengrass(getenv, exists)
	want := Identity{Root: root, Endpoint: "abc-ats.iot.eu-west-1.amazonaws.com:443", CertFile: "/gg/device.pem.crt", KeyFile: "/gg/private.pem.key", CAFile: "/gg/AmazonRootCA1.pem"}
	if id != want {
		t.Errorf("from effective config: %+v, want %+v", id, want)
	}

	// Not under Greengrass: nothing.
	if id := Greengrass(func(string) string { return "" }, exists); id != (Identity{}) {
		t.Errorf("outside Greengrass: %+v", id)
	}
}

func TestClientTLS(t *testing.T) {
	certs := mosquittotestCerts(t)
	tests := []struct {
		endpoint   string
		wantALPN   []string
		wantServer string
	}{
		{"abc-ats.iot.eu-west-1.amazonaws.com:8883", nil, "abc-ats.iot.eu-west-1.amazonaws.com"},
		{"abc-ats.iot.eu-west-1.amazonaws.com:443", []string{"x-amzn-mqtt-ca"}, "abc-ats.iot.eu-west-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			o, err := resolve(Opts{Endpoint: tt.endpoint, Thing: "pi", CertFile: certs.ClientCert, KeyFile: certs.ClientKey, CAFile: certs.CAFile},
				func(string) string { return "" }, func(string) bool { return false })
			if err != nil {
				t.Fatal(err)
			}
			c, err := clientTLS(o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.NextProtos, tt.wantALPN) || c.ServerName != tt.wantServer || len(c.Certificates) != 1 || c.RootCAs == nil {
				t.Errorf("tls config: ALPN %v server %q certs %d roots %v", c.NextProtos, c.ServerName, len(c.Certificates), c.RootCAs != nil)
			}
		})
	}
	if _, err := clientTLS(Opts{Endpoint: "h:8883", CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing files: %v, want ErrConfig", err)
	}
}
