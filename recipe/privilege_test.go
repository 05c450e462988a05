package recipe

import (
	"strings"
	"testing"
)

// TestValidateReportsBroadGrants: a resource granting every topic (* or a
// bare #) and a privileged lifecycle step are reported with their paths.
func TestValidateReportsBroadGrants(t *testing.T) {
	tests := []struct {
		name, old, new, want string
		line                 int
	}{
		{"mqttproxy *", "            - dt/example/{iot:thingName}/#", "            - '*'",
			`accessControl.aws.greengrass.ipc.mqttproxy["com.example.Agent:mqttproxy:1"].resources[0]: "*" grants every topic`, 19},
		{"mqttproxy #", "            - dt/example/{iot:thingName}/#", "            - '#'",
			`accessControl.aws.greengrass.ipc.mqttproxy["com.example.Agent:mqttproxy:1"].resources[0]: "#" grants every topic`, 19},
		{"pubsub *", "            - example/*", "            - example/x\n            - '*'",
			`accessControl.aws.greengrass.ipc.pubsub["com.example.Agent:pubsub:1"].resources[1]: "*" grants every topic`, 26},
		{"privileged step", "RequiresPrivilege: false", "RequiresPrivilege: true",
			"Manifests[0].Lifecycle.Run.RequiresPrivilege: true runs the step as root", 36},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("base lacks %q", tc.old)
			}
			probs := Validate([]byte(strings.Replace(base, tc.old, tc.new, 1)), nil)
			for _, p := range probs {
				if strings.Contains(p.String(), tc.want) {
					if p.Line != tc.line {
						t.Errorf("%s at line %d; want %d", p, p.Line, tc.line)
					}
					return
				}
			}
			t.Fatalf("problems %v; want one containing %q", probs, tc.want)
		})
	}
}
