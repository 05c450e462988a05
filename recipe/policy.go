package recipe

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Grants are the topics a recipe's accessControl lets the component
// publish to: the resources of its aws.greengrass#PublishToIoTCore
// (mqttproxy) and aws.greengrass#PublishToTopic (pubsub) policies.
type Grants struct {
	IoTCore []string // MQTT topic filters (+, #), {iot:thingName} unexpanded
	Local   []string // local topics, * matching anything, {iot:thingName} unexpanded
}

// GrantsOf reads the publish grants of a rendered recipe.
func GrantsOf(r *Recipe) Grants {
	if r == nil || r.ComponentConfiguration == nil {
		return Grants{}
	}
	return grantsOf(r.ComponentConfiguration.DefaultConfiguration[AccessControlKey])
}

// ParseGrants reads the publish grants of a recipe file (YAML or JSON), as
// `stirling config check --recipe` does for the recipe that is deployed.
func ParseGrants(data []byte) (Grants, error) {
	var doc struct {
		ComponentConfiguration struct {
			DefaultConfiguration map[string]any `yaml:"DefaultConfiguration"`
		} `yaml:"ComponentConfiguration"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Grants{}, fmt.Errorf("recipe: %w", err)
	}
	return grantsOf(doc.ComponentConfiguration.DefaultConfiguration[AccessControlKey]), nil
}

func grantsOf(ac any) Grants {
	var g Grants
	services, _ := ac.(map[string]any)
	for svc, pols := range services {
		policies, _ := pols.(map[string]any)
		for _, pol := range policies {
			m, _ := pol.(map[string]any)
			ops, _ := m["operations"].([]any)
			res, _ := m["resources"].([]any)
			for _, op := range ops {
				for _, r := range res {
					r, _ := r.(string)
					switch {
					case r == "":
					case svc == ServiceMQTTProxy && (op == OpPublishToIoTCore || op == "*"):
						g.IoTCore = appendNew(g.IoTCore, r)
					case svc == ServicePubSub && (op == OpPublishToTopic || op == "*"):
						g.Local = appendNew(g.Local, r)
					}
				}
			}
		}
	}
	return g
}

// AllowsIoTCore reports whether the grants let the component publish to
// IoT Core on topic, a publisher topic template ({thing} is the device's
// thing name; thing may be "" for a fleet configuration). It matches as
// the nucleus does: the resource's MQTT wildcards, with {iot:thingName}
// standing for the thing name.
func (g Grants) AllowsIoTCore(topic, thing string) bool {
	for _, r := range g.IoTCore {
		if r == "*" || matchFilter(r, strings.ReplaceAll(topic, "{thing}", ThingVar)) {
			return true
		}
		if thing != "" && matchFilter(strings.ReplaceAll(r, ThingVar, thing), strings.ReplaceAll(topic, "{thing}", thing)) {
			return true
		}
	}
	return false
}

// AllowsLocal is AllowsIoTCore for the local pub/sub bus, where a * in a
// resource matches any characters.
func (g Grants) AllowsLocal(topic, thing string) bool {
	for _, r := range g.Local {
		if glob(r, strings.ReplaceAll(topic, "{thing}", ThingVar)) || glob(r, strings.ReplaceAll(topic, "{thing}", "*")) {
			return true
		}
		if thing != "" && glob(strings.ReplaceAll(r, ThingVar, thing), strings.ReplaceAll(topic, "{thing}", thing)) {
			return true
		}
	}
	return false
}

// glob matches s against pattern, where * matches any run of characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
