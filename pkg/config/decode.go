package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decoderOptions makes decoding strict: no weak typing (a YAML number is not a
// string), and the conversions jwtgate wants done by decodeHook.
func decoderOptions(dc *mapstructure.DecoderConfig) {
	dc.WeaklyTypedInput = false
	dc.DecodeHook = decodeHook
}

// decodeHook converts what YAML and the environment give into Config's types:
// Go durations ("15m"), RFC 3339 times, URLs, and, from environment strings,
// integers, booleans and comma-separated lists. Its errors quote only values of
// non-secret types.
func decodeHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	s, isString := data.(string)
	switch {
	case to == reflect.TypeFor[time.Duration]():
		return toDuration(data)
	case to == reflect.TypeFor[time.Time]():
		return toTime(data)
	case to == reflect.TypeFor[*url.URL]():
		return toURL(data)
	case to == reflect.TypeFor[url.URL]():
		if u, ok := data.(*url.URL); ok && u != nil {
			return *u, nil
		}
		return data, nil
	case isString && isInt(to.Kind()):
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, to.Bits())
		if err != nil {
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		return n, nil
	case isString && to.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid boolean %q", s)
		}
		return b, nil
	case isString && to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.String:
		return splitList(s), nil
	case isInt(to.Kind()):
		if f, ok := data.(float64); ok {
			if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
				return nil, fmt.Errorf("want an integer, got %v", f)
			}
			return int64(f), nil
		}
	}
	return data, nil
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

// splitList splits a comma-separated environment value; "" is the empty list.
// Entries are trimmed; empty entries are kept for Validate to report.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

func toDuration(data any) (any, error) {
	switch d := data.(type) {
	case time.Duration:
		return d, nil
	case string:
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q", d)
		}
		return v, nil
	case int, int64, uint64, float64:
		// A bare number would otherwise mean nanoseconds; only 0 is unambiguous.
		if reflect.ValueOf(d).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("invalid duration %v: give a unit, such as \"15m\"", d)
	default:
		return nil, fmt.Errorf("want a duration such as \"15m\", got %s", describe(data))
	}
}

func toTime(data any) (any, error) {
	switch t := data.(type) {
	case time.Time:
		return t, nil
	case string:
		if strings.TrimSpace(t) == "" {
			return time.Time{}, nil
		}
		v, err := time.Parse(time.RFC3339, strings.TrimSpace(t))
		if err != nil {
			return nil, fmt.Errorf("invalid RFC 3339 time %q", t)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("want an RFC 3339 time, got %s", describe(data))
	}
}

func toURL(data any) (any, error) {
	switch u := data.(type) {
	case *url.URL:
		return u, nil
	case string:
		if strings.TrimSpace(u) == "" {
			return (*url.URL)(nil), nil
		}
		v, err := url.Parse(strings.TrimSpace(u))
		if err != nil {
			// The parser's message quotes the URL, which may carry credentials.
			return nil, errors.New("not a valid URL")
		}
		return v, nil
	default:
		return nil, fmt.Errorf("want a URL string, got %s", describe(data))
	}
}

// describe names the YAML shape of a decoded value, without its contents.
func describe(data any) string {
	switch data.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", data)
	}
}

// want names what a value of type t looks like in YAML.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	default:
		return t.String()
	}
}

// decodeErrors rewrites the decoder's error tree as one error per key:
// "jwt.ttl: invalid duration \"fast\"".
func decodeErrors(err error) error {
	var out []error
	collectDecodeErrors(err, &out)
	if len(out) == 0 {
		return fmt.Errorf("decoding configuration: %w", err)
	}
	return errors.Join(out...)
}

func collectDecodeErrors(err error, out *[]error) {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			collectDecodeErrors(inner, out)
		}
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			collectDecodeErrors(inner, out)
			return
		}
		if _, ok := inner.(*mapstructure.DecodeError); ok {
			collectDecodeErrors(inner, out)
			return
		}
		var ute *mapstructure.UnconvertibleTypeError
		if errors.As(inner, &ute) {
			inner = fmt.Errorf("want %s, got %s", want(ute.Expected.Type()), describe(ute.Value))
		}
		if e.Name() == "" {
			*out = append(*out, inner)
			return
		}
		*out = append(*out, fmt.Errorf("%s: %w", e.Name(), inner))
	default:
		// mapstructure wraps the joined errors once with a summary line.
		var de *mapstructure.DecodeError
		if inner := errors.Unwrap(err); inner != nil && errors.As(inner, &de) {
			collectDecodeErrors(inner, out)
			return
		}
		*out = append(*out, fmt.Errorf("decoding configuration: %w", err))
	}
}
