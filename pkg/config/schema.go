package config

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// field is one configuration key and where it lives in [Config].
type field struct {
	key      string // "jwt.ttl"
	index    []int  // for reflect.Value.FieldByIndex
	fileOnly bool   // a list of mappings (jwt.keys): no default, no environment
}

// configFields lists every configuration key, derived from the mapstructure tags
// of [Config] so that the list cannot drift from the struct.
func configFields() []field {
	return appendFields(nil, reflect.TypeFor[Config](), "", nil)
}

func appendFields(out []field, t reflect.Type, prefix string, index []int) []field {
	for i := range t.NumField() {
		sf := t.Field(i)
		name := tagName(sf)
		if name == "" {
			continue
		}
		key := prefix + name
		idx := append(slices.Clone(index), i)
		switch ft := sf.Type; {
		case isSection(ft):
			out = appendFields(out, ft, key+".", idx)
		case ft.Kind() == reflect.Slice && isSection(ft.Elem()):
			out = append(out, field{key: key, index: idx, fileOnly: true})
		default:
			out = append(out, field{key: key, index: idx})
		}
	}
	return out
}

// tagName returns the configuration key segment of sf, or "" for a field that
// configuration does not set (tag "-", or no tag).
func tagName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("mapstructure"), ",")
	if name == "-" || !sf.IsExported() {
		return ""
	}
	return name
}

// isSection reports whether t is a struct of further keys, as opposed to a value
// that happens to be a struct (time.Time).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]()
}

// sectionField returns the field of section t whose key segment is name. The match
// ignores case, as viper and mapstructure do.
func sectionField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if n := tagName(sf); n != "" && strings.EqualFold(n, name) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// plainValue converts a default into the form a YAML file or the environment
// would give, so that every source goes through the same decoding.
func plainValue(v reflect.Value) any {
	switch x := v.Interface().(type) {
	case Secret:
		return string(x)
	case RedisURL:
		return string(x)
	case []Secret:
		out := make([]string, 0, len(x))
		for _, s := range x {
			out = append(out, string(s))
		}
		return out
	case []string:
		return append([]string{}, x...)
	case *url.URL:
		if x == nil {
			return ""
		}
		return x.String()
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.Format(time.RFC3339Nano)
	default:
		return x
	}
}

// unknownKeys returns the full names of the keys in m that section t does not
// define, descending into sections and into the entries of lists of sections
// (jwt.keys[0].kid). Mismatched shapes are left to the decoder, which names them.
func unknownKeys(prefix string, m map[string]any, t reflect.Type) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := prefix + k
		sf, ok := sectionField(t, k)
		if !ok {
			out = append(out, key)
			continue
		}
		switch val := m[k].(type) {
		case map[string]any:
			if isSection(sf.Type) {
				out = append(out, unknownKeys(key+".", val, sf.Type)...)
			}
		case []any:
			if sf.Type.Kind() == reflect.Slice && isSection(sf.Type.Elem()) {
				for i, e := range val {
					if em, ok := e.(map[string]any); ok {
						out = append(out, unknownKeys(fmt.Sprintf("%s[%d].", key, i), em, sf.Type.Elem())...)
					}
				}
			}
		}
	}
	return out
}
