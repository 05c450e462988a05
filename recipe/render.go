package recipe

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stirling-iot/stirling/configs"
)

// Defaults of Opts.
const (
	DefaultName        = "com.stirling.Agent"
	DefaultPublisher   = "stirling"
	DefaultDescription = "Reads a Stirling engine's flywheel speed and thermal regions and publishes them to AWS IoT Core and AWS IoT SiteWise."
	DefaultRunArgs     = "run --config greengrass:configuration"
	// DefaultTopicPrefix is granted when no greengrass publisher says
	// otherwise. {iot:thingName} is a recipe variable (see docs/greengrass.md
	// for the nucleus setting it needs in accessControl).
	DefaultTopicPrefix = "dt/stirling/{iot:thingName}"
	// DefaultNucleus is the SOFT nucleus requirement: 2.6.0 interpolates
	// {iot:thingName} in the configuration.
	DefaultNucleus = ">=2.6.0 <3.0.0"
	// TESVersion is the TokenExchangeService requirement when SiteWise is on.
	TESVersion = "^2.0.0"
)

// Nucleus and TES component names.
const (
	NucleusComponent = "aws.greengrass.Nucleus"
	TESComponent     = "aws.greengrass.TokenExchangeService"
)

// Target is one platform the component ships a binary for.
type Target struct {
	Name         string // manifest name
	Architecture string // Platform.architecture as the nucleus reports it (the JVM's os.arch)
	GOARCH       string
	GOARM        string // "" unless GOARCH is arm
	File         string // artifact file name
}

// Targets are the platforms in manifest order. The nucleus reports the
// JVM's architecture, not the kernel's: a 32-bit JVM on a 64-bit Pi OS
// reports arm and gets the ARMv7 binary, which runs there too.
func Targets() []Target {
	return []Target{
		{Name: "Linux aarch64 (64-bit JVM; Pi 3, 4, 5 on 64-bit Raspberry Pi OS)", Architecture: "aarch64", GOARCH: "arm64", File: "stirling-aarch64"},
		{Name: "Linux arm (32-bit JVM; ARMv7 or later on 32-bit Raspberry Pi OS)", Architecture: "arm", GOARCH: "arm", GOARM: "7", File: "stirling-armv7l"},
	}
}

// Opts says what to render.
type Opts struct {
	// Name is the component name; "" is DefaultName.
	Name string
	// Version is the component version, semver MAJOR.MINOR.PATCH.
	Version string
	// Publisher and Description; "" gives the defaults.
	Publisher   string
	Description string
	// Artifacts is where the binaries are uploaded, s3://bucket[/prefix].
	// Each artifact URI is <Artifacts>/<Name>/<Version>/<file>, the layout
	// of dist/greengrass/artifacts, so `aws s3 sync` of that directory to
	// Artifacts uploads them all.
	Artifacts string
	// Config is the agent configuration (see ConfigMap), rendered as the
	// DefaultConfiguration next to accessControl.
	Config map[string]any
	// TopicPrefix, when set, is the only IoT Core topic space granted
	// (<prefix>/#); every greengrass publisher must publish under it. When
	// empty the grant is derived from the greengrass publishers' topics
	// (their levels up to {thing}), or DefaultTopicPrefix if none
	// publishes to IoT Core.
	TopicPrefix string
	// BasicIngestRule also grants $aws/rules/<rule>/<topic space>.
	BasicIngestRule string
	// RunArgs are the arguments of the Run step; "" is DefaultRunArgs.
	RunArgs string
	// Nucleus is the SOFT nucleus requirement; "" is DefaultNucleus.
	Nucleus string
}

// ErrOpts is wrapped by every invalid Opts error.
var ErrOpts = errors.New("invalid recipe options")

// DefaultOpts returns the defaults Render uses for every empty field
// (Version and Artifacts have none: Render requires them).
func DefaultOpts() Opts {
	return Opts{Name: DefaultName, Publisher: DefaultPublisher, Description: DefaultDescription, RunArgs: DefaultRunArgs, Nucleus: DefaultNucleus}
}

// Render builds the recipe. A nil o means DefaultOpts (and fails for the
// missing version and artifacts).
func Render(o *Opts) (*Recipe, error) {
	if o == nil {
		d := DefaultOpts()
		o = &d
	}
	name := or(o.Name, DefaultName)
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("recipe: %w: "+format, append([]any{ErrOpts}, a...)...))
	}
	if msg := checkComponentName(name); msg != "" {
		bad("name %q %s", name, msg)
	}
	if !semverRE.MatchString(o.Version) {
		bad("version %q is not semver MAJOR.MINOR.PATCH (e.g. 1.4.0)", o.Version)
	}
	base := strings.TrimSuffix(o.Artifacts, "/")
	if msg := checkS3(base, false); msg != "" {
		bad("artifacts %q %s", o.Artifacts, msg)
	}
	if o.BasicIngestRule != "" && !ruleNameRE.MatchString(o.BasicIngestRule) {
		bad("basic ingest rule %q: want a rule name of letters, digits and _", o.BasicIngestRule)
	}
	cfg := normalise(o.Config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	if _, ok := cfg[AccessControlKey]; ok {
		bad("the configuration already has %s; Render writes it", AccessControlKey)
	}
	pubs := publishers(cfg)
	iot, local, err := grants(pubs, strings.TrimSuffix(o.TopicPrefix, "/#"))
	if err != nil {
		bad("%v", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.BasicIngestRule != "" {
		for _, r := range slices.Clone(iot) {
			if !strings.HasPrefix(r, "$") {
				iot = append(iot, "$aws/rules/"+o.BasicIngestRule+"/"+r)
			}
		}
	}
	ac := map[string]any{}
	if len(iot) > 0 {
		ac[ServiceMQTTProxy] = map[string]any{
			name + ":mqttproxy:1": map[string]any{
				"policyDescription": "Publish readings to AWS IoT Core under the agent's topics only.",
				"operations":        []any{OpPublishToIoTCore},
				"resources":         toAny(iot),
			},
		}
	}
	if len(local) > 0 {
		ac[ServicePubSub] = map[string]any{
			name + ":pubsub:1": map[string]any{
				"policyDescription": "Publish readings on the local pub/sub bus under the agent's topics only.",
				"operations":        []any{OpPublishToTopic},
				"resources":         toAny(local),
			},
		}
	}
	if len(ac) > 0 {
		cfg[AccessControlKey] = ac
	}
	deps := map[string]Dependency{
		NucleusComponent: {VersionRequirement: Quoted(or(o.Nucleus, DefaultNucleus)), DependencyType: Soft},
	}
	if slices.ContainsFunc(pubs, func(p publisher) bool { return p.typ == configs.TypeSiteWise }) {
		deps[TESComponent] = Dependency{VersionRequirement: TESVersion, DependencyType: Hard}
	}
	r := &Recipe{
		RecipeFormatVersion:    FormatVersion,
		ComponentName:          name,
		ComponentVersion:       Quoted(o.Version),
		ComponentDescription:   or(o.Description, DefaultDescription),
		ComponentPublisher:     or(o.Publisher, DefaultPublisher),
		ComponentConfiguration: &Configuration{DefaultConfiguration: cfg},
		ComponentDependencies:  deps,
	}
	args := or(o.RunArgs, DefaultRunArgs)
	for _, t := range Targets() {
		r.Manifests = append(r.Manifests, Manifest{
			Name:     t.Name,
			Platform: Platform{OS: "linux", Architecture: t.Architecture},
			Lifecycle: Lifecycle{
				Run: &Step{Script: "exec {artifacts:path}/" + t.File + " " + args, RequiresPrivilege: false},
			},
			Artifacts: []Artifact{{
				URI:        base + "/" + name + "/" + o.Version + "/" + t.File,
				Permission: Permission{Read: PermOwner, Execute: PermOwner},
			}},
		})
	}
	return r, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// publisher is what the recipe needs to know of one configured publisher.
type publisher struct {
	typ, topic, destination string
	index                   int
}

// publishers reads the publishers list of a configuration map.
func publishers(cfg map[string]any) []publisher {
	list, _ := cfg["publishers"].([]any)
	var out []publisher
	for i, e := range list {
		m, _ := e.(map[string]any)
		s := func(k string) string { v, _ := m[k].(string); return v }
		out = append(out, publisher{typ: s("type"), topic: s("topic"), destination: s("destination"), index: i})
	}
	return out
}

// grants returns the IoT Core and local topic resources the greengrass
// publishers need.
func grants(pubs []publisher, prefix string) (iot, local []string, err error) {
	var errs []error
	for _, p := range pubs {
		if p.typ != configs.TypeGreengrass {
			continue
		}
		switch p.destination {
		case "local":
			local = appendNew(local, strings.ReplaceAll(p.topic, "{thing}", "*"))
			continue
		}
		res := topicSpace(p.topic)
		if prefix != "" {
			full := stripIngest(strings.ReplaceAll(p.topic, "{thing}", ThingVar))
			if !matchFilter(prefix+"/#", full) {
				errs = append(errs, fmt.Errorf("publishers[%d].topic %q is outside the topic prefix %q; change the topic or the prefix", p.index, p.topic, prefix))
			}
			continue
		}
		iot = appendNew(iot, res)
	}
	if prefix != "" {
		iot = append([]string{prefix + "/#"}, iot...)
	}
	if len(iot) == 0 {
		iot = []string{DefaultTopicPrefix + "/#"}
	}
	return iot, local, errors.Join(errs...)
}

// topicSpace turns a publisher topic into the resource that grants it:
// the levels up to the one holding {thing}, then /#, so every topic of
// this device under the application's prefix is allowed and nothing else.
// A topic without {thing} is granted exactly.
func topicSpace(topic string) string {
	ingest := topic[:len(topic)-len(stripIngest(topic))]
	levels := strings.Split(topic[len(ingest):], "/")
	for i, l := range levels {
		if strings.Contains(l, "{thing}") {
			return ingest + strings.ReplaceAll(strings.Join(levels[:i+1], "/"), "{thing}", ThingVar) + "/#"
		}
	}
	return topic
}

// stripIngest removes a Basic Ingest prefix $aws/rules/<rule>/.
func stripIngest(topic string) string {
	if rest, ok := strings.CutPrefix(topic, "$aws/rules/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			return after
		}
	}
	return topic
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// ConfigMap turns an agent configuration into the map the recipe's
// DefaultConfiguration holds: every key with its effective value, numbers
// as float64 (the nucleus stores configuration as JSON and hands numbers
// back as doubles; configs.FromMap accepts them). Load c with
// configs.LoadFleet: a recipe is for a fleet, so the thing name stays as
// the file has it (normally empty) and each device's agent takes its own
// from AWS_IOT_THING_NAME, which Greengrass sets.
func ConfigMap(c *configs.Config) (map[string]any, error) {
	b, err := c.Marshal()
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("recipe: decode configuration: %w", err)
	}
	return normalise(m), nil
}

// normalise deep-copies v with every integer as float64.
func normalise[T any](v T) T {
	out, _ := normaliseAny(v).(T)
	return out
}

func normaliseAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out[k] = normaliseAny(x[k])
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normaliseAny(e)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case int32:
		return float64(x)
	case uint32:
		return float64(x)
	case float32:
		return float64(x)
	}
	return v
}

// matchFilter reports whether an MQTT topic filter (+ and # wildcards, as
// the mqttproxy authorizer reads resources) allows topic.
func matchFilter(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		switch {
		case l == "#":
			return true
		case i >= len(t):
			return false
		case l != "+" && l != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}
