package recipe

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Names used in accessControl.
const (
	AccessControlKey   = "accessControl"
	ServiceMQTTProxy   = "aws.greengrass.ipc.mqttproxy"
	ServicePubSub      = "aws.greengrass.ipc.pubsub"
	OpPublishToIoTCore = "aws.greengrass#PublishToIoTCore"
	OpSubscribeIoTCore = "aws.greengrass#SubscribeToIoTCore"
	OpPublishToTopic   = "aws.greengrass#PublishToTopic"
	OpSubscribeToTopic = "aws.greengrass#SubscribeToTopic"
	// ThingVar is the recipe variable for the core device's thing name.
	ThingVar = "{iot:thingName}"
)

// IoT Core topic limits. The Basic Ingest prefix $aws/rules/<rule>/ does
// not count.
const (
	MaxTopicBytes  = 256
	MaxTopicSlash  = 7
	maxThingLength = 128 // a thing name is at most 128 bytes
)

var (
	semverRE    = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	ruleNameRE  = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
	bucketRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	rangeRE     = regexp.MustCompile(`^[0-9xX*^~<>=|. +-]+$`)
	variableRE  = regexp.MustCompile(`\{([^{}\s]+)\}`)
	artifactRef = regexp.MustCompile(`\{artifacts:path\}/([^\s"';&|]+)`)
)

// Problem is one rule a recipe breaks.
type Problem struct {
	Path string // where, e.g. Manifests[0].Platform.architecture
	Line int    // 1-based line in the document; 0 when unknown
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// ValidateOpts are optional checks.
type ValidateOpts struct {
	// ArtifactDir, when set, is a greengrass-cli --artifactDir: every s3
	// artifact must exist there as <dir>/<name>/<version>/<file>, or the
	// nucleus would try to download it from S3 in a local deployment.
	ArtifactDir string
}

// Validate applies the documented recipe rules to a YAML or JSON recipe
// and returns every problem, in document order.
func Validate(data []byte, o *ValidateOpts) []Problem {
	if o == nil {
		o = &ValidateOpts{}
	}
	v := &validator{opts: o, policies: map[string]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []Problem{{Msg: "not valid YAML or JSON: " + err.Error()}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return []Problem{{Msg: "empty document; want a recipe mapping"}}
	}
	v.root(doc.Content[0])
	slices.SortStableFunc(v.probs, func(a, b Problem) int { return a.Line - b.Line })
	return v.probs
}

type validator struct {
	opts     *ValidateOpts
	probs    []Problem
	policies map[string]string // policy id -> path of its first use
	name     string
	version  string
	deps     []string
	global   bool // a global Lifecycle exists
}

func (v *validator) bad(n *yaml.Node, path, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	v.probs = append(v.probs, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// field is one key of a mapping.
type field struct {
	key string // as written
	k   *yaml.Node
	val *yaml.Node
}

// fields returns a mapping's keys, reporting duplicates (keys are
// case-insensitive for the nucleus) and, when allowed is not nil, keys
// not in it. The result is keyed by the canonical (allowed) spelling or,
// without allowed, the lower-cased key.
func (v *validator) fields(n *yaml.Node, path string, allowed []string) map[string]field {
	out := map[string]field{}
	if n.Kind != yaml.MappingNode {
		v.bad(n, path, "is %s; want a mapping", kind(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		canon := strings.ToLower(k.Value)
		if allowed != nil {
			j := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, k.Value) })
			if j < 0 {
				v.bad(k, join(path, k.Value), "unknown key; want one of %s", strings.Join(allowed, ", "))
				continue
			}
			canon = allowed[j]
		}
		if prev, ok := out[canon]; ok {
			v.bad(k, join(path, k.Value), "duplicate key (keys are case-insensitive; first at line %d)", prev.k.Line)
			continue
		}
		out[canon] = field{key: k.Value, k: k, val: val}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

// str returns a scalar's value, reporting anything else.
func (v *validator) str(f field, path string) (string, bool) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag == "!!null" {
		v.bad(f.val, path, "is %s; want a string", kind(f.val))
		return "", false
	}
	return f.val.Value, true
}

var topKeys = []string{"RecipeFormatVersion", "ComponentName", "ComponentVersion", "ComponentDescription",
	"ComponentPublisher", "ComponentConfiguration", "ComponentDependencies", "ComponentType",
	"ComponentSource", "Manifests", "Lifecycle"}

func (v *validator) root(n *yaml.Node) {
	fs := v.fields(n, "", topKeys)
	if n.Kind != yaml.MappingNode {
		return
	}
	required := func(k string) (field, bool) {
		f, ok := fs[k]
		if !ok {
			v.bad(n, k, "missing")
		}
		return f, ok
	}
	if f, ok := required("RecipeFormatVersion"); ok {
		if s, ok := v.str(f, f.key); ok && s != FormatVersion {
			v.bad(f.val, f.key, "%q is not a recipe format version; the only one is '%s'", s, FormatVersion)
		}
	}
	if f, ok := required("ComponentName"); ok {
		if s, ok := v.str(f, f.key); ok {
			v.name = s
			if msg := checkComponentName(s); msg != "" {
				v.bad(f.val, f.key, "%q %s", s, msg)
			}
		}
	}
	if f, ok := required("ComponentVersion"); ok {
		if s, ok := v.str(f, f.key); ok {
			v.version = s
			switch {
			case s == "NEXT_PATCH":
				v.bad(f.val, f.key, "NEXT_PATCH is a GDK placeholder; a recipe needs a real version such as 1.0.0")
			case !semverRE.MatchString(s):
				v.bad(f.val, f.key, "%q is not semver MAJOR.MINOR.PATCH (quote it in YAML: '1.0.0')", s)
			}
		}
	}
	if f, ok := required("ComponentPublisher"); ok {
		if s, ok := v.str(f, f.key); ok && strings.TrimSpace(s) == "" {
			v.bad(f.val, f.key, "empty; want the publisher's name")
		}
	}
	if f, ok := fs["ComponentDescription"]; ok {
		v.str(f, f.key)
	}
	if f, ok := fs["ComponentType"]; ok {
		v.bad(f.k, f.key, "is set by the service; remove it")
	}
	if f, ok := fs["ComponentDependencies"]; ok {
		v.dependencies(f.val, f.key)
	}
	if f, ok := fs["ComponentConfiguration"]; ok {
		v.configuration(f.val, f.key)
	}
	if f, ok := fs["Lifecycle"]; ok {
		v.global = true
		if f.val.Kind != yaml.MappingNode {
			v.bad(f.val, f.key, "is %s; want a mapping", kind(f.val))
		}
	}
	if f, ok := required("Manifests"); ok {
		v.manifests(f.val, f.key)
	}
}

func checkComponentName(s string) string {
	switch {
	case s == "":
		return "is empty; want a reverse-DNS name such as com.example.Agent"
	case !nameRE.MatchString(s):
		return "has characters a component name cannot have; want letters, digits, '.', '_' and '-'"
	case len(s) > 128:
		return "is longer than 128 characters"
	case strings.HasPrefix(strings.ToLower(s), "aws.greengrass."):
		return "uses the aws.greengrass prefix: it would replace the AWS-provided component; use your own reverse-DNS prefix"
	}
	return ""
}

func (v *validator) dependencies(n *yaml.Node, path string) {
	for _, f := range v.ordered(n, path, nil) {
		p := join(path, f.key)
		v.deps = append(v.deps, f.key)
		fs := v.fields(f.val, p, []string{"VersionRequirement", "DependencyType"})
		if f.val.Kind != yaml.MappingNode {
			continue
		}
		if r, ok := fs["VersionRequirement"]; !ok {
			v.bad(f.val, join(p, "VersionRequirement"), "missing; want a semver range such as '>=2.6.0 <3.0.0'")
		} else if s, ok := v.str(r, join(p, r.key)); ok && (!rangeRE.MatchString(s) || !strings.ContainsAny(s, "0123456789*")) {
			v.bad(r.val, join(p, r.key), "%q is not an npm-style semver range (e.g. '^2.0.0', '>=2.6.0 <3.0.0')", s)
		}
		if t, ok := fs["DependencyType"]; ok {
			if s, ok := v.str(t, join(p, t.key)); ok && s != Hard && s != Soft {
				v.bad(t.val, join(p, t.key), "%q is not a dependency type; want HARD or SOFT", s)
			}
		}
	}
}

// ordered returns a mapping's fields in document order.
func (v *validator) ordered(n *yaml.Node, path string, allowed []string) []field {
	fs := v.fields(n, path, allowed)
	out := make([]field, 0, len(fs))
	for _, f := range fs {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b field) int { return a.k.Line*10000 + a.k.Column - b.k.Line*10000 - b.k.Column })
	return out
}

func (v *validator) configuration(n *yaml.Node, path string) {
	fs := v.fields(n, path, []string{"DefaultConfiguration"})
	dc, ok := fs["DefaultConfiguration"]
	if !ok {
		if n.Kind == yaml.MappingNode {
			v.bad(n, join(path, "DefaultConfiguration"), "missing")
		}
		return
	}
	p := join(path, dc.key)
	if dc.val.Kind != yaml.MappingNode {
		v.bad(dc.val, p, "is %s; want a mapping", kind(dc.val))
		return
	}
	for i := 0; i+1 < len(dc.val.Content); i += 2 {
		if dc.val.Content[i].Value == AccessControlKey {
			v.accessControl(dc.val.Content[i+1], join(p, AccessControlKey))
		}
	}
}

// operations each IPC service accepts in a policy.
var serviceOps = map[string][]string{
	ServiceMQTTProxy: {OpPublishToIoTCore, OpSubscribeIoTCore, "*"},
	ServicePubSub:    {OpPublishToTopic, OpSubscribeToTopic, "*"},
}

func (v *validator) accessControl(n *yaml.Node, path string) {
	for _, svc := range v.ordered(n, path, nil) {
		sp := join(path, svc.key)
		if !strings.HasPrefix(svc.key, "aws.greengrass") {
			v.bad(svc.k, sp, "is not an IPC service id (e.g. %s, %s)", ServiceMQTTProxy, ServicePubSub)
		}
		for _, pol := range v.ordered(svc.val, sp, nil) {
			pp := sp + "[" + strconv.Quote(pol.key) + "]"
			if first, dup := v.policies[pol.key]; dup {
				v.bad(pol.k, pp, "policy id %q is already used at %s; policy ids must be unique across all components", pol.key, first)
			} else {
				v.policies[pol.key] = pp
			}
			fs := v.fields(pol.val, pp, []string{"policyDescription", "operations", "resources"})
			if pol.val.Kind != yaml.MappingNode {
				continue
			}
			ops := v.list(pol.val, fs, pp, "operations")
			for i, op := range ops {
				allowed, known := serviceOps[svc.key]
				op := op
				switch {
				case known && !slices.Contains(allowed, op.Value):
					v.bad(op, fmt.Sprintf("%s.operations[%d]", pp, i), "%q is not an operation of %s; want one of %s", op.Value, svc.key, strings.Join(allowed, ", "))
				case !known && op.Value != "*" && !strings.HasPrefix(op.Value, "aws.greengrass#"):
					v.bad(op, fmt.Sprintf("%s.operations[%d]", pp, i), "%q is not an IPC operation (aws.greengrass#Name or *)", op.Value)
				}
			}
			for i, r := range v.list(pol.val, fs, pp, "resources") {
				if r.Value == "*" || (svc.key == ServiceMQTTProxy && stripIngest(r.Value) == "#") {
					v.bad(r, fmt.Sprintf("%s.resources[%d]", pp, i), "%q grants every topic; want only the component's own topics (least privilege), e.g. dt/stirling/%s/#", r.Value, ThingVar)
					continue
				}
				if svc.key == ServiceMQTTProxy {
					if msg := checkTopicFilter(r.Value); msg != "" {
						v.bad(r, fmt.Sprintf("%s.resources[%d]", pp, i), "%q %s", r.Value, msg)
					}
				}
			}
		}
	}
}

// list returns the scalar items of a required, non-empty list field.
func (v *validator) list(parent *yaml.Node, fs map[string]field, path, key string) []*yaml.Node {
	f, ok := fs[key]
	if !ok {
		v.bad(parent, join(path, key), "missing; want a non-empty list")
		return nil
	}
	p := join(path, f.key)
	if f.val.Kind != yaml.SequenceNode || len(f.val.Content) == 0 {
		v.bad(f.val, p, "is %s; want a non-empty list", kind(f.val))
		return nil
	}
	var out []*yaml.Node
	for i, e := range f.val.Content {
		if e.Kind != yaml.ScalarNode || e.Value == "" {
			v.bad(e, fmt.Sprintf("%s[%d]", p, i), "is %s; want a string", kind(e))
			continue
		}
		out = append(out, e)
	}
	return out
}

// checkTopicFilter applies the IoT Core topic limits to an mqttproxy
// resource, counting {iot:thingName} at its longest (128 bytes) and not
// counting a Basic Ingest prefix.
func checkTopicFilter(r string) string {
	if r == "*" {
		return ""
	}
	t := stripIngest(r)
	levels := strings.Split(t, "/")
	for i, l := range levels {
		switch {
		case strings.Contains(l, "#") && (l != "#" || i != len(levels)-1):
			return "uses # other than as the whole last level"
		case strings.Contains(l, "+") && l != "+":
			return "uses + other than as a whole level"
		}
	}
	if strings.HasSuffix(t, "/#") {
		t = strings.TrimSuffix(t, "/#") + "/x" // a topic the filter allows
	}
	n := len(strings.ReplaceAll(t, ThingVar, strings.Repeat("x", maxThingLength)))
	switch {
	case strings.Count(t, "/") > MaxTopicSlash:
		return fmt.Sprintf("has %d slashes; IoT Core allows at most %d (a Basic Ingest prefix does not count)", strings.Count(t, "/"), MaxTopicSlash)
	case n > MaxTopicBytes:
		return fmt.Sprintf("can be %d bytes long (with a %d-byte thing name); IoT Core allows at most %d", n, maxThingLength, MaxTopicBytes)
	}
	return ""
}

var (
	manifestKeys  = []string{"Name", "Platform", "Lifecycle", "Artifacts", "Selections"}
	lifecycleKeys = []string{"Setenv", "Bootstrap", "Install", "Run", "Startup", "Shutdown", "Recover"}
	stepKeys      = []string{"Script", "RequiresPrivilege", "Skipif", "Timeout", "Setenv"}
	artifactKeys  = []string{"URI", "Unarchive", "Permission", "Digest", "Algorithm"}
	osValues      = []string{"linux", "windows", "darwin"}
	archValues    = []string{"amd64", "arm", "aarch64", "x86"}
	detailValues  = []string{"armv6l", "armv7l", "armv8l", "armv6b", "armv7b", "armv8b"}
	archHints     = map[string]string{
		"arm64":   "aarch64",
		"x86_64":  "amd64",
		"x64":     "amd64",
		"armv7l":  "arm (with architecture.detail: armv7l if you need it)",
		"armv7":   "arm",
		"armhf":   "arm",
		"armv6l":  "arm (with architecture.detail: armv6l)",
		"i386":    "x86",
		"i686":    "x86",
		"aarch32": "arm",
	}
)

func (v *validator) manifests(n *yaml.Node, path string) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		v.bad(n, path, "is %s; want a non-empty list of manifests", kind(n))
		return
	}
	type plat struct{ os, arch, detail string }
	var seen []plat
	for i, m := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		fs := v.fields(m, p, manifestKeys)
		if m.Kind != yaml.MappingNode {
			continue
		}
		var pl plat
		if f, ok := fs["Platform"]; !ok {
			v.bad(m, join(p, "Platform"), "missing; want os and architecture")
		} else {
			pl.os, pl.arch, pl.detail = v.platform(f.val, join(p, f.key))
			for j, s := range seen {
				if covers(s.os, pl.os) && covers(s.arch, pl.arch) && covers(s.detail, pl.detail) {
					v.bad(f.val, join(p, f.key), "never used: %s[%d] matches every device this one matches, and the first match wins", path, j)
					break
				}
			}
			seen = append(seen, pl)
		}
		files := v.artifacts(fs, p)
		if f, ok := fs["Lifecycle"]; ok {
			v.lifecycle(f.val, join(p, f.key), files)
		} else if !v.global && fs["Selections"].val == nil {
			v.bad(m, join(p, "Lifecycle"), "missing (and no global Lifecycle): the component would do nothing")
		}
	}
}

// covers reports whether an earlier platform value matches every device a
// later one matches ("" and "*" match anything).
func covers(earlier, later string) bool {
	return earlier == "" || earlier == "*" || earlier == later
}

func (v *validator) platform(n *yaml.Node, path string) (os, arch, detail string) {
	fs := v.fields(n, path, nil) // custom keys come from the nucleus platformOverride
	if n.Kind != yaml.MappingNode {
		return
	}
	check := func(key string, allowed []string, hints map[string]string) string {
		f, ok := fs[strings.ToLower(key)]
		if !ok {
			return ""
		}
		p := join(path, f.key)
		s, ok := v.str(f, p)
		if !ok {
			return ""
		}
		switch {
		case s == "*" || slices.Contains(allowed, s):
		case len(s) > 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"):
			if _, err := regexp.Compile(s[1 : len(s)-1]); err != nil {
				v.bad(f.val, p, "%q is not a valid regular expression: %v", s, err)
			}
		case hints[s] != "":
			v.bad(f.val, p, "%q is not a value the nucleus reports; use %s", s, hints[s])
		default:
			v.bad(f.val, p, "%q is not a value the nucleus reports; want one of %s, * or a /regex/", s, strings.Join(allowed, ", "))
		}
		return s
	}
	os = check("os", osValues, nil)
	arch = check("architecture", archValues, archHints)
	detail = check("architecture.detail", detailValues, nil)
	if _, ok := fs["os"]; !ok {
		v.bad(n, join(path, "os"), "missing; this manifest would match every operating system")
	}
	return os, arch, detail
}

// artifacts checks a manifest's artifacts and returns their file names.
func (v *validator) artifacts(fs map[string]field, path string) []string {
	f, ok := fs["Artifacts"]
	if !ok {
		return nil
	}
	p := join(path, f.key)
	if f.val.Kind != yaml.SequenceNode {
		v.bad(f.val, p, "is %s; want a list", kind(f.val))
		return nil
	}
	var files []string
	for i, a := range f.val.Content {
		ap := fmt.Sprintf("%s[%d]", p, i)
		afs := v.fields(a, ap, artifactKeys)
		if a.Kind != yaml.MappingNode {
			continue
		}
		for _, k := range []string{"Digest", "Algorithm"} {
			if d, ok := afs[k]; ok {
				v.bad(d.k, join(ap, d.key), "is computed by the service at CreateComponentVersion; remove it")
			}
		}
		u, ok := afs["URI"]
		if !ok {
			v.bad(a, join(ap, "URI"), "missing")
		} else if s, ok := v.str(u, join(ap, u.key)); ok {
			up := join(ap, u.key)
			file := s[strings.LastIndex(s, "/")+1:]
			switch {
			case strings.HasPrefix(s, "s3://"):
				if msg := checkS3(s, true); msg != "" {
					v.bad(u.val, up, "%q %s", s, msg)
					break
				}
				if slices.Contains(files, file) {
					v.bad(u.val, up, "file name %q is used by another artifact of this manifest; names must be unique", file)
				}
				files = append(files, file)
				v.artifactFile(u.val, up, file)
			case strings.HasPrefix(s, "docker:"):
			default:
				v.bad(u.val, up, "%q is not an artifact URI; want s3://bucket/key or docker:image", s)
			}
		}
		if un, ok := afs["Unarchive"]; ok {
			if s, ok := v.str(un, join(ap, un.key)); ok && s != "NONE" && s != "ZIP" {
				v.bad(un.val, join(ap, un.key), "%q: want NONE or ZIP (the only archive type the nucleus extracts)", s)
			}
		}
		if pm, ok := afs["Permission"]; ok {
			pp := join(ap, pm.key)
			for _, perm := range v.ordered(pm.val, pp, []string{"Read", "Execute"}) {
				if s, ok := v.str(perm, join(pp, perm.key)); ok && s != PermNone && s != PermOwner && s != PermAll {
					v.bad(perm.val, join(pp, perm.key), "%q: want NONE, OWNER or ALL", s)
				}
			}
		}
	}
	return files
}

// artifactFile checks a local artifact exists for greengrass-cli.
func (v *validator) artifactFile(n *yaml.Node, path, file string) {
	if v.opts.ArtifactDir == "" || v.name == "" || v.version == "" {
		return
	}
	p := filepath.Join(v.opts.ArtifactDir, v.name, v.version, file)
	st, err := os.Stat(p)
	switch {
	case err != nil:
		v.bad(n, path, "no local artifact %s: a local deployment would try to download it from S3", p)
	case !st.Mode().IsRegular():
		v.bad(n, path, "local artifact %s is not a regular file", p)
	}
}

func checkS3(u string, needKey bool) string {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "is not an s3:// URI"
	}
	bucket, key, _ := strings.Cut(rest, "/")
	switch {
	case !bucketRE.MatchString(bucket) || strings.Contains(bucket, ".."):
		return fmt.Sprintf("has an invalid bucket name %q (3-63 of a-z, 0-9, '.', '-')", bucket)
	case needKey && (key == "" || strings.HasSuffix(key, "/")):
		return "names no object; want s3://bucket/path/file"
	case strings.Contains(key, "//"):
		return "has an empty path segment"
	}
	return ""
}

func (v *validator) lifecycle(n *yaml.Node, path string, files []string) {
	fs := v.fields(n, path, lifecycleKeys)
	if n.Kind != yaml.MappingNode {
		return
	}
	if _, run := fs["Run"]; run {
		if st, ok := fs["Startup"]; ok {
			v.bad(st.k, join(path, st.key), "a lifecycle has either Run or Startup, not both")
		}
	}
	if f, ok := fs["Setenv"]; ok {
		v.setenv(f.val, join(path, f.key))
	}
	for _, k := range lifecycleKeys[1:] {
		if f, ok := fs[k]; ok {
			v.step(f.val, join(path, f.key), files)
		}
	}
}

func (v *validator) setenv(n *yaml.Node, path string) {
	for _, f := range v.ordered(n, path, nil) {
		if f.val.Kind != yaml.ScalarNode {
			v.bad(f.val, join(path, f.key), "is %s; want a string", kind(f.val))
		}
	}
}

func (v *validator) step(n *yaml.Node, path string, files []string) {
	if n.Kind == yaml.ScalarNode {
		v.script(n, path, files)
		return
	}
	fs := v.fields(n, path, stepKeys)
	if n.Kind != yaml.MappingNode {
		return
	}
	if f, ok := fs["Script"]; !ok {
		v.bad(n, join(path, "Script"), "missing")
	} else if _, ok := v.str(f, join(path, f.key)); ok {
		v.script(f.val, join(path, f.key), files)
	}
	if f, ok := fs["RequiresPrivilege"]; ok && (f.val.Kind != yaml.ScalarNode || f.val.Tag != "!!bool") {
		v.bad(f.val, join(path, f.key), "is %s; want true or false", kind(f.val))
	} else if ok && strings.EqualFold(f.val.Value, "true") {
		v.bad(f.val, join(path, f.key), "true runs the step as root; the agent needs no root (the component user in groups gpio and i2c): want false")
	}
	if f, ok := fs["Timeout"]; ok {
		if t, err := strconv.Atoi(f.val.Value); err != nil || t <= 0 || f.val.Kind != yaml.ScalarNode {
			v.bad(f.val, join(path, f.key), "is %s; want a positive number of seconds", kind(f.val))
		}
	}
	if f, ok := fs["Skipif"]; ok {
		if s, ok := v.str(f, join(path, f.key)); ok {
			verb, arg, _ := strings.Cut(strings.TrimSpace(s), " ")
			if (verb != "onpath" && verb != "exists") || strings.TrimSpace(arg) == "" {
				v.bad(f.val, join(path, f.key), "%q: want \"onpath <executable>\" or \"exists <file>\"", s)
			}
		}
	}
	if f, ok := fs["Setenv"]; ok {
		v.setenv(f.val, join(path, f.key))
	}
}

// recipe variables the nucleus knows, without a component prefix.
var knownVars = []string{"artifacts:path", "artifacts:decompressedPath", "work:path", "kernel:rootPath", "iot:thingName"}

func (v *validator) script(n *yaml.Node, path string, files []string) {
	s := n.Value
	if strings.TrimSpace(s) == "" {
		v.bad(n, path, "empty script")
		return
	}
	for _, m := range variableRE.FindAllStringSubmatch(s, -1) {
		name := m[1]
		if !strings.Contains(name, ":") || strings.HasPrefix(name, "$") {
			continue // shell syntax such as ${HOME} or {a,b}
		}
		if v.knownVar(name) {
			continue
		}
		v.bad(n, path, "unknown recipe variable {%s}; want one of {%s}, {configuration:/path} or {<dependency>:...}", name, strings.Join(knownVars, "}, {"))
	}
	if len(files) == 0 {
		return
	}
	for _, m := range artifactRef.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(files, m[1]) {
			v.bad(n, path, "runs {artifacts:path}/%s but the manifest's artifacts are %s", m[1], strings.Join(files, ", "))
		}
	}
}

func (v *validator) knownVar(name string) bool {
	if slices.Contains(knownVars, name) || strings.HasPrefix(name, "configuration:/") {
		return true
	}
	for _, d := range v.deps {
		if rest, ok := strings.CutPrefix(name, d+":"); ok {
			return slices.Contains(knownVars[:4], rest) || strings.HasPrefix(rest, "configuration:/")
		}
	}
	return false
}
