package mqtt

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"testing"
)

// schema is the subset of JSON Schema that schemas/*.json use: type (one or
// a list), enum, minimum, required, properties, patternProperties,
// additionalProperties (false or a schema), items, minItems.
type schema struct {
	Type                 any                `json:"type"`
	Enum                 []any              `json:"enum"`
	Minimum              *float64           `json:"minimum"`
	Required             []string           `json:"required"`
	Properties           map[string]*schema `json:"properties"`
	PatternProperties    map[string]*schema `json:"patternProperties"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	MinItems             *int               `json:"minItems"`
}

func loadSchema(t *testing.T, path string) *schema {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

// validateJSON decodes doc and checks it against s.
func validateJSON(s *schema, doc []byte) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.validate("$", v)
}

func typeOf(v any) []string {
	switch x := v.(type) {
	case nil:
		return []string{"null"}
	case bool:
		return []string{"boolean"}
	case string:
		return []string{"string"}
	case float64:
		if x == math.Trunc(x) {
			return []string{"number", "integer"}
		}
		return []string{"number"}
	case []any:
		return []string{"array"}
	case map[string]any:
		return []string{"object"}
	}
	return nil
}

func (s *schema) validate(path string, v any) error {
	if s.Type != nil {
		var want []string
		switch t := s.Type.(type) {
		case string:
			want = []string{t}
		case []any:
			for _, x := range t {
				want = append(want, x.(string))
			}
		}
		ok := false
		for _, have := range typeOf(v) {
			for _, w := range want {
				ok = ok || have == w
			}
		}
		if !ok {
			return fmt.Errorf("%s: type %v, want %v", path, typeOf(v), want)
		}
	}
	if s.Enum != nil {
		ok := false
		for _, e := range s.Enum {
			ok = ok || e == v
		}
		if !ok {
			return fmt.Errorf("%s: %v not in %v", path, v, s.Enum)
		}
	}
	if n, isNum := v.(float64); isNum && s.Minimum != nil && n < *s.Minimum {
		return fmt.Errorf("%s: %v below minimum %v", path, n, *s.Minimum)
	}
	if a, isArr := v.([]any); isArr {
		if s.MinItems != nil && len(a) < *s.MinItems {
			return fmt.Errorf("%s: %d items, want at least %d", path, len(a), *s.MinItems)
		}
		if s.Items != nil {
			for i, x := range a {
				if err := s.Items.validate(fmt.Sprintf("%s[%d]", path, i), x); err != nil {
					return err
				}
			}
		}
	}
	o, isObj := v.(map[string]any)
	if !isObj {
		return nil
	}
	for _, k := range s.Required {
		if _, ok := o[k]; !ok {
			return fmt.Errorf("%s: missing required %q", path, k)
		}
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		matched := false
		if p, ok := s.Properties[k]; ok {
			matched = true
			if err := p.validate(path+"."+k, o[k]); err != nil {
				return err
			}
		}
		for pat, p := range s.PatternProperties {
			if regexp.MustCompile(pat).MatchString(k) {
				matched = true
				if err := p.validate(path+"."+k, o[k]); err != nil {
					return err
				}
			}
		}
		if matched || len(s.AdditionalProperties) == 0 {
			continue
		}
		if string(s.AdditionalProperties) == "false" {
			return fmt.Errorf("%s: unexpected property %q", path, k)
		}
		var ap schema
		if err := json.Unmarshal(s.AdditionalProperties, &ap); err != nil {
			return fmt.Errorf("schema: additionalProperties: %w", err)
		}
		if err := ap.validate(path+"."+k, o[k]); err != nil {
			return err
		}
	}
	return nil
}

// The checker itself must reject what the schemas forbid.
func TestSchemaChecker(t *testing.T) {
	sample := loadSchema(t, "../../schemas/sample.schema.json")
	batch := loadSchema(t, "../../schemas/batch.schema.json")
	packed := loadSchema(t, "../../schemas/packed.schema.json")
	tests := []struct {
		name   string
		s      *schema
		doc    string
		wantOK bool
	}{
		{"sample ok", sample, `{"device":"d","batch":1,"seq":1,"seq_last":2,"ts":5,"rpm":1.5,"rpm_quality":"GOOD","state":"running","state_quality":"BAD"}`, true},
		{"sample aggregate field", sample, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"rpm":1.5,"rpm_quality":"GOOD","rpm_count":{}}`, false},
		{"sample missing seq", sample, `{"device":"d","batch":1,"seq_last":2,"ts":5}`, false},
		{"sample bad quality", sample, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"rpm":1,"rpm_quality":"OK"}`, false},
		{"sample fractional ts", sample, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5.5}`, false},
		{"sample object field", sample, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"rpm":{}}`, false},
		{"batch ok", batch, `{"device":"d","batch":1,"seq":1,"seq_last":1,"readings":[{"seq":1,"metric":"rpm","ts":1,"value":2.5,"quality":"GOOD"}]}`, true},
		{"batch null value", batch, `{"device":"d","batch":1,"seq":1,"seq_last":1,"readings":[{"seq":1,"metric":"rpm","ts":1,"value":null,"quality":"GOOD"}]}`, false},
		{"batch empty", batch, `{"device":"d","batch":1,"seq":1,"seq_last":1,"readings":[]}`, false},
		{"batch extra key", batch, `{"device":"d","batch":1,"seq":1,"seq_last":1,"x":1,"readings":[{"seq":1,"metric":"rpm","ts":1,"value":1,"quality":"GOOD"}]}`, false},
		{"batch reading count 1", batch, `{"device":"d","batch":1,"seq":1,"seq_last":1,"readings":[{"seq":1,"metric":"rpm","ts":1,"value":1,"quality":"GOOD","count":1}]}`, false},
		{"packed ok", packed, `{"device":"d","batch":1,"seq":1,"seq_last":3,"ts":5,"metrics":["rpm","state"],"units":["RPM",""],"rows":[[0,0,0,1.5,1,"running"],[1000,2,0,2]],"quality":{"2":"BAD"}}`, true},
		{"packed no rows", packed, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"metrics":["rpm"],"units":["RPM"],"rows":[]}`, false},
		{"packed short row", packed, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"metrics":["rpm"],"units":["RPM"],"rows":[[0,0,0]]}`, false},
		{"packed object value", packed, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"metrics":["rpm"],"units":["RPM"],"rows":[[0,0,0,{}]]}`, false},
		{"packed quality GOOD", packed, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"metrics":["rpm"],"units":["RPM"],"rows":[[0,0,0,1]],"quality":{"1":"GOOD"}}`, false},
		{"packed quality key", packed, `{"device":"d","batch":1,"seq":1,"seq_last":1,"ts":5,"metrics":["rpm"],"units":["RPM"],"rows":[[0,0,0,1]],"quality":{"x":"BAD"}}`, false},
		{"batch seq 0", batch, `{"device":"d","batch":1,"seq":0,"seq_last":1,"readings":[{"seq":1,"metric":"rpm","ts":1,"value":1,"quality":"GOOD"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateJSON(tt.s, []byte(tt.doc))
			if (err == nil) != tt.wantOK {
				t.Errorf("validate = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}
