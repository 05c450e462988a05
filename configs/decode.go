package configs

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into a Go value strictly, collecting every
// error with its line and remembering the line of every key path so that
// Validate's errors can be placed too.
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int // key path -> line of the key
}

func (d *decoder) fail(line int, key, format string, a ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, a...)})
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	publisherType   = reflect.TypeFor[Publisher]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode decodes n into v (addressable) at key path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v, path)
		return
	}
	t := v.Type()
	switch {
	case t == publisherType:
		d.decodePublisher(n, v.Addr().Interface().(*Publisher), path)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n.Line, path, "%s: %s", show(n), err)
		}
		return
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "got a %s; want a duration like 1s, 250ms or 5m", kindName(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			if n.Value == "0" {
				v.SetInt(0)
				return
			}
			d.fail(n.Line, path, "%s is not a duration; want a duration like 1s, 250ms or 5m", show(n))
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.Zero(t))
			return
		}
		nv := reflect.New(t.Elem())
		if !v.IsNil() {
			nv.Elem().Set(v.Elem())
		}
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path, nil)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "got a %s; want a mapping of key: value", kindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			if seen[k.Value] {
				d.fail(k.Line, key, "duplicate key")
				continue
			}
			seen[k.Value] = true
			d.lines[key] = k.Line
			ev := reflect.New(t.Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(k.Value)); old.IsValid() {
				ev.Set(old) // override field by field
			}
			d.decode(val, ev, key)
			v.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "got a %s; want a list", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			d.lines[key] = e.Line
			d.decode(e, s.Index(i), key)
		}
		v.Set(s)
	default:
		d.decodeScalar(n, v, path)
	}
}

// decodeStruct decodes a mapping into struct v; skip lists keys handled by
// the caller.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, skip map[string]bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "section:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "got a %s; want a mapping with keys %s", kindName(n), strings.Join(fieldNames(v.Type()), ", "))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if seen[k.Value] {
			d.fail(k.Line, key, "duplicate key")
			continue
		}
		seen[k.Value] = true
		if skip[k.Value] {
			continue
		}
		idx := fieldIndex(v.Type(), k.Value)
		if idx < 0 {
			var allowed []string
			if skip != nil {
				allowed = []string{"type", "name"} // publisher entries
			}
			allowed = append(allowed, fieldNames(v.Type())...)
			d.fail(k.Line, key, "unknown key; want one of %s", strings.Join(allowed, ", "))
			continue
		}
		d.lines[key] = k.Line
		d.decode(val, v.Field(idx), key)
	}
}

func (d *decoder) decodePublisher(n *yaml.Node, p *Publisher, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "got a %s; want a mapping with type: %s", kindName(n), strings.Join(publisherTypes, "|"))
		return
	}
	var typ, name *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "type":
			typ = n.Content[i+1]
			d.lines[join(path, "type")] = n.Content[i].Line
		case "name":
			name = n.Content[i+1]
			d.lines[join(path, "name")] = n.Content[i].Line
		}
	}
	if typ == nil {
		d.fail(n.Line, join(path, "type"), "missing; want one of %s", strings.Join(publisherTypes, ", "))
		return
	}
	def := defaultPublisher(typ.Value)
	if typ.Kind != yaml.ScalarNode || def == nil {
		d.fail(typ.Line, join(path, "type"), "%s not allowed; want one of %s", show(typ), strings.Join(publisherTypes, ", "))
		return
	}
	*p = *def
	if name != nil {
		d.decodeScalar(name, reflect.ValueOf(&p.Name).Elem(), join(path, "name"))
	}
	d.decodeStruct(n, reflect.ValueOf(p.settings()).Elem(), path, map[string]bool{"type": true, "name": true})
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "got a %s; want %s", kindName(n), want(v.Type()))
		return
	}
	if n.Tag == "!!null" {
		d.fail(n.Line, path, "empty; want %s", want(v.Type()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" && n.Style == 0 && n.Tag != "!!int" && n.Tag != "!!float" {
			d.fail(n.Line, path, "%s is a %s; want a string (quote it)", show(n), strings.TrimPrefix(n.Tag, "!!"))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.fail(n.Line, path, "%s is not a boolean; want true or false", show(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := integer(n)
		if !ok || v.OverflowInt(i) {
			d.fail(n.Line, path, "%s is not %s", show(n), want(v.Type()))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := integer(n)
		if !ok || i < 0 || v.OverflowUint(uint64(i)) {
			d.fail(n.Line, path, "%s is not %s", show(n), want(v.Type()))
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		var f float64
		if err := n.Decode(&f); err != nil || (n.Tag != "!!int" && n.Tag != "!!float") {
			d.fail(n.Line, path, "%s is not a number", show(n))
			return
		}
		v.SetFloat(f)
	default:
		if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			if err := tu.UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n.Line, path, "%s: %s", show(n), err)
			}
			return
		}
		d.fail(n.Line, path, "unsupported type %s", v.Type())
	}
}

// integer decodes an integer scalar. A float with no fractional part
// (1e+06, 4.0) is accepted too: JSON configuration from Greengrass carries
// every number as a double.
func integer(n *yaml.Node) (int64, bool) {
	switch n.Tag {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return 0, false
		}
		return i, true
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<(t.Bits())-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar " + show(n)
	}
	return "node"
}

func show(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	return strconv.Quote(n.Value)
}

// fieldIndex returns the index of the field with YAML name key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok && name == key {
			return i
		}
	}
	return -1
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok {
			out = append(out, name)
		}
	}
	return out
}

func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || tag == "" {
		return "", false
	}
	return name, true
}
