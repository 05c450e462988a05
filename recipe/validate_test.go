package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid recipe; each case edits it to break one rule.
const base = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Agent
ComponentVersion: '1.0.0'
ComponentPublisher: Example
ComponentDependencies:
  aws.greengrass.Nucleus:
    VersionRequirement: '>=2.6.0 <3.0.0'
    DependencyType: SOFT
ComponentConfiguration:
  DefaultConfiguration:
    interval: 5
    accessControl:
      aws.greengrass.ipc.mqttproxy:
        com.example.Agent:mqttproxy:1:
          policyDescription: publish telemetry
          operations:
            - aws.greengrass#PublishToIoTCore
          resources:
            - dt/example/{iot:thingName}/#
      aws.greengrass.ipc.pubsub:
        com.example.Agent:pubsub:1:
          operations:
            - aws.greengrass#PublishToTopic
          resources:
            - example/*
Manifests:
  - Name: aarch64
    Platform:
      os: linux
      architecture: aarch64
    Lifecycle:
      Setenv:
        LOG: json
      Run:
        Script: exec {artifacts:path}/agent-aarch64 --work {work:path} --dep {aws.greengrass.Nucleus:configuration:/x}
        RequiresPrivilege: false
        Timeout: 30
        Skipif: onpath never-there
    Artifacts:
      - URI: s3://example-bucket/agent/1.0.0/agent-aarch64
        Permission:
          Read: OWNER
          Execute: OWNER
  - Platform:
      os: linux
      architecture: arm
    Lifecycle:
      Run: exec {artifacts:path}/agent-armv7l
    Artifacts:
      - URI: s3://example-bucket/agent/1.0.0/agent-armv7l
        Unarchive: NONE
`

func TestValidateBase(t *testing.T) {
	if probs := Validate([]byte(base), nil); len(probs) > 0 {
		t.Fatalf("the base recipe has problems: %v", probs)
	}
	// JSON is YAML: the same recipe as JSON passes too.
	const js = `{"RecipeFormatVersion":"2020-01-25","ComponentName":"com.example.Agent","ComponentVersion":"1.0.0",
"ComponentPublisher":"Example","Manifests":[{"Platform":{"os":"linux","architecture":"aarch64"},
"Lifecycle":{"Run":{"Script":"exec {artifacts:path}/a"}},"Artifacts":[{"URI":"s3://example-bucket/a"}]}]}`
	if probs := Validate([]byte(js), nil); len(probs) > 0 {
		t.Fatalf("the JSON recipe has problems: %v", probs)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // edit of base; old "" appends new
		want     string // expected problem, "path: message" prefix
		line     int
	}{
		// format version, names, versions
		{"format version", "'2020-01-25'", "'2021-01-01'", `RecipeFormatVersion: "2021-01-01" is not a recipe format version; the only one is '2020-01-25'`, 1},
		{"format version missing", "RecipeFormatVersion: '2020-01-25'\n", "", "RecipeFormatVersion: missing", 0},
		{"semver", "ComponentVersion: '1.0.0'", "ComponentVersion: '1.0'", `ComponentVersion: "1.0" is not semver`, 3},
		{"semver v", "ComponentVersion: '1.0.0'", "ComponentVersion: v1.0.0", `ComponentVersion: "v1.0.0" is not semver`, 3},
		{"NEXT_PATCH", "ComponentVersion: '1.0.0'", "ComponentVersion: NEXT_PATCH", "ComponentVersion: NEXT_PATCH is a GDK placeholder", 3},
		{"name prefix", "ComponentName: com.example.Agent", "ComponentName: aws.greengrass.Agent", `ComponentName: "aws.greengrass.Agent" uses the aws.greengrass prefix`, 2},
		{"name chars", "ComponentName: com.example.Agent", "ComponentName: com example", `ComponentName: "com example" has characters`, 2},
		{"publisher", "ComponentPublisher: Example", "ComponentPublisher: ''", "ComponentPublisher: empty", 4},
		{"type", "", "ComponentType: aws.greengrass.generic\n", "ComponentType: is set by the service", 0},
		{"unknown top key", "", "Foo: bar\n", "Foo: unknown key; want one of RecipeFormatVersion", 0},
		{"duplicate key", "", "componentname: again\n", "componentname: duplicate key (keys are case-insensitive; first at line 2)", 0},
		// dependencies
		{"dependency type", "DependencyType: SOFT", "DependencyType: WEAK", `ComponentDependencies.aws.greengrass.Nucleus.DependencyType: "WEAK" is not a dependency type; want HARD or SOFT`, 8},
		{"version range", "VersionRequirement: '>=2.6.0 <3.0.0'", "VersionRequirement: latest", `ComponentDependencies.aws.greengrass.Nucleus.VersionRequirement: "latest" is not an npm-style semver range`, 7},
		// platforms
		{"arm64", "architecture: aarch64", "architecture: arm64", `Manifests[0].Platform.architecture: "arm64" is not a value the nucleus reports; use aarch64`, 30},
		{"x86_64", "architecture: aarch64", "architecture: x86_64", `Manifests[0].Platform.architecture: "x86_64" is not a value the nucleus reports; use amd64`, 30},
		{"unknown arch", "architecture: aarch64", "architecture: riscv64", `Manifests[0].Platform.architecture: "riscv64" is not a value the nucleus reports; want one of amd64, arm, aarch64, x86, * or a /regex/`, 30},
		{"os", "os: linux\n      architecture: aarch64", "os: Linux\n      architecture: aarch64", `Manifests[0].Platform.os: "Linux" is not a value the nucleus reports`, 29},
		{"detail", "architecture: arm\n", "architecture: arm\n      architecture.detail: arm71\n", `Manifests[1].Platform.architecture.detail: "arm71" is not a value the nucleus reports; want one of armv6l`, 47},
		{"bad regex", "architecture: aarch64", "architecture: /aarch(64/", `Manifests[0].Platform.architecture: "/aarch(64/" is not a valid regular expression`, 30},
		{"unreachable", "architecture: arm\n", "architecture: /.*/\n", "", 0},
		{"catch-all first", "architecture: aarch64", "architecture: '*'", "Manifests[1].Platform: never used: Manifests[0] matches every device this one matches", 45},
		{"no os", "      os: linux\n      architecture: arm\n", "      architecture: arm\n", "Manifests[1].Platform.os: missing; this manifest would match every operating system", 45},
		{"no manifests", "Manifests:", "Manifests: []\nX:", "Manifests: is a list; want a non-empty list of manifests", 0},
		// lifecycle
		{"lifecycle key", "      Run: exec", "      Start: exec", "Manifests[1].Lifecycle.Start: unknown key; want one of Setenv, Bootstrap, Install, Run, Startup, Shutdown, Recover", 48},
		{"run and startup", "      Setenv:\n", "      Startup: ./x\n      Setenv:\n", "Manifests[0].Lifecycle.Startup: a lifecycle has either Run or Startup, not both", 32},
		{"step key", "        Timeout: 30", "        TimeoutSeconds: 30", "Manifests[0].Lifecycle.Run.TimeoutSeconds: unknown key; want one of Script, RequiresPrivilege, Skipif, Timeout, Setenv", 37},
		{"timeout", "        Timeout: 30", "        Timeout: soon", `Manifests[0].Lifecycle.Run.Timeout: is "soon"; want a positive number of seconds`, 37},
		{"privilege", "RequiresPrivilege: false", "RequiresPrivilege: maybe", `Manifests[0].Lifecycle.Run.RequiresPrivilege: is "maybe"; want true or false`, 36},
		{"skipif", "Skipif: onpath never-there", "Skipif: missing x", `Manifests[0].Lifecycle.Run.Skipif: "missing x": want "onpath <executable>" or "exists <file>"`, 38},
		{"no script", "        Script: exec {artifacts:path}/agent-aarch64 --work {work:path} --dep {aws.greengrass.Nucleus:configuration:/x}\n", "", "Manifests[0].Lifecycle.Run.Script: missing", 35},
		{"unknown variable", "{work:path}", "{work:dir}", "Manifests[0].Lifecycle.Run.Script: unknown recipe variable {work:dir}", 35},
		{"artifact not shipped", "/agent-armv7l\n    Artifacts", "/agent-arm\n    Artifacts", "Manifests[1].Lifecycle.Run: runs {artifacts:path}/agent-arm but the manifest's artifacts are agent-armv7l", 48},
		{"no lifecycle", "    Lifecycle:\n      Run: exec {artifacts:path}/agent-armv7l\n", "", "Manifests[1].Lifecycle: missing (and no global Lifecycle)", 44},
		// artifacts
		{"https uri", "s3://example-bucket/agent/1.0.0/agent-armv7l", "https://example.com/agent-armv7l", `Manifests[1].Artifacts[0].URI: "https://example.com/agent-armv7l" is not an artifact URI`, 50},
		{"bucket", "s3://example-bucket/agent/1.0.0/agent-armv7l", "s3://Example_Bucket/agent-armv7l", `invalid bucket name "Example_Bucket"`, 50},
		{"no key", "s3://example-bucket/agent/1.0.0/agent-armv7l", "s3://example-bucket/", "names no object", 50},
		{"duplicate file", "      - URI: s3://example-bucket/agent/1.0.0/agent-aarch64\n", "      - URI: s3://example-bucket/agent/1.0.0/agent-aarch64\n      - URI: s3://example-bucket/other/agent-aarch64\n", `Manifests[0].Artifacts[1].URI: file name "agent-aarch64" is used by another artifact of this manifest`, 41},
		{"digest", "        Unarchive: NONE\n", "        Unarchive: NONE\n        Digest: abc=\n", "Manifests[1].Artifacts[0].Digest: is computed by the service at CreateComponentVersion; remove it", 52},
		{"unarchive", "Unarchive: NONE", "Unarchive: TAR", `Manifests[1].Artifacts[0].Unarchive: "TAR": want NONE or ZIP`, 51},
		{"permission", "Execute: OWNER", "Execute: YES", `Manifests[0].Artifacts[0].Permission.Execute: "YES": want NONE, OWNER or ALL`, 43},
		// access control
		{"duplicate policy id", "com.example.Agent:pubsub:1", "com.example.Agent:mqttproxy:1", `ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.pubsub["com.example.Agent:mqttproxy:1"]: policy id "com.example.Agent:mqttproxy:1" is already used`, 21},
		{"wrong operation", "- aws.greengrass#PublishToIoTCore", "- aws.greengrass#PublishToTopic", `accessControl.aws.greengrass.ipc.mqttproxy["com.example.Agent:mqttproxy:1"].operations[0]: "aws.greengrass#PublishToTopic" is not an operation of aws.greengrass.ipc.mqttproxy`, 17},
		{"no resources", "          resources:\n            - example/*\n", "", `accessControl.aws.greengrass.ipc.pubsub["com.example.Agent:pubsub:1"].resources: missing; want a non-empty list`, 22},
		{"empty operations", "          operations:\n            - aws.greengrass#PublishToTopic\n", "          operations: []\n", `["com.example.Agent:pubsub:1"].operations: is a list; want a non-empty list`, 22},
		{"topic slashes", "dt/example/{iot:thingName}/#", "a/b/c/d/e/f/g/h/i", `resources[0]: "a/b/c/d/e/f/g/h/i" has 8 slashes; IoT Core allows at most 7`, 19},
		{"ingest prefix not counted", "dt/example/{iot:thingName}/#", "$aws/rules/R/a/b/c/d/e/f/g/h", "", 0},
		{"topic length", "dt/example/{iot:thingName}/#", "dt/" + strings.Repeat("x", 125) + "/{iot:thingName}/#", "can be 259 bytes long (with a 128-byte thing name); IoT Core allows at most 256", 19},
		{"hash inside", "dt/example/{iot:thingName}/#", "dt/#/x", `"dt/#/x" uses # other than as the whole last level`, 19},
		{"plus partial", "dt/example/{iot:thingName}/#", "dt/a+/x", `"dt/a+/x" uses + other than as a whole level`, 19},
		{"policy key", "policyDescription: publish telemetry", "description: publish telemetry", "unknown key; want one of policyDescription, operations, resources", 15},
		{"yaml", "", "  - [\n", "not valid YAML or JSON", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := base + tc.new
			if tc.old != "" {
				if !strings.Contains(base, tc.old) {
					t.Fatalf("the base recipe has no %q", tc.old)
				}
				doc = strings.Replace(base, tc.old, tc.new, 1)
			}
			probs := Validate([]byte(doc), nil)
			if tc.want == "" {
				if len(probs) > 0 {
					t.Fatalf("want no problem, got %v", probs)
				}
				return
			}
			for _, p := range probs {
				if strings.Contains(p.String(), tc.want) {
					if tc.line != 0 && p.Line != tc.line {
						t.Errorf("problem %q at line %d, want %d", p, p.Line, tc.line)
					}
					return
				}
			}
			t.Fatalf("want a problem containing %q, got:\n%v", tc.want, probs)
		})
	}
}

func TestValidateArtifactDir(t *testing.T) {
	dir := t.TempDir()
	v := filepath.Join(dir, "com.example.Agent", "1.0.0")
	if err := os.MkdirAll(v, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v, "agent-aarch64"), []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	probs := Validate([]byte(base), &ValidateOpts{ArtifactDir: dir})
	if len(probs) != 1 || !strings.Contains(probs[0].Msg, "agent-armv7l: a local deployment would try to download it from S3") {
		t.Fatalf("want one problem for the missing agent-armv7l, got %v", probs)
	}
}
