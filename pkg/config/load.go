package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ErrUnknownKey is wrapped by the error [Load] returns for a key jwtgate does not
// know, so that a misspelt key stops start-up instead of silently leaving the
// default in place.
var ErrUnknownKey = errors.New("unknown configuration key")

// envPrefix starts every environment variable: JWTGATE_ + key in upper case with
// "." replaced by "_" (jwt.secret -> JWTGATE_JWT_SECRET).
const envPrefix = "JWTGATE"

// maxFileBytes bounds the configuration file and every secret or key file, so a
// path pointing at something huge (or at /dev/zero) fails instead of filling memory.
const maxFileBytes = 1 << 20

// Load builds the configuration from, in decreasing precedence: the flags in fs
// that the user set (see [RegisterFlags]; fs may be nil), the environment
// (JWTGATE_SERVER_ADDR, ...; an empty value counts as unset, lists are
// comma-separated), the YAML file named by --config or else $JWTGATE_CONFIG, and
// [Default]. jwt.keys comes from the file only.
//
// Unknown keys (wrapping [ErrUnknownKey]), values of the wrong type and unreadable
// files are errors that name the key. Load then reads jwt.secret_file,
// jwt.seal_secret_file and each jwt.keys entry's secret_file and private_key_file
// (relative paths are relative to the working directory) into the matching
// [Secret] fields, dropping one trailing newline from secrets. Finally it calls
// [Config.Validate] and returns its error. On error the returned Config is the
// zero value. Error texts never contain secret values.
func Load(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	// An empty variable counts as unset, as if it were not there: a deployment
	// template that leaves JWTGATE_API_KEYS_ALLOWED or JWTGATE_JWT_SECRET empty
	// must not override the file's allowlist (accepting any key) or secret
	// (signing with a random one). A value that should be empty is set in the
	// file (chat.upstream_auth_scheme: "" for the bare key).
	v.AllowEmptyEnv(false)

	// Viper only consults the environment for keys it knows, so every key gets
	// its default and an explicit binding. Explicit bindings, rather than
	// AutomaticEnv, keep the file-only jwt.keys out of reach of the environment.
	def := reflect.ValueOf(Default())
	for _, f := range configFields() {
		if f.fileOnly {
			continue
		}
		v.SetDefault(f.key, plainValue(def.FieldByIndex(f.index)))
		if err := v.BindEnv(f.key); err != nil {
			return Config{}, fmt.Errorf("binding %s to the environment: %w", f.key, err)
		}
	}
	if fs != nil {
		for _, b := range flagBindings() {
			fl := fs.Lookup(b.flag)
			if fl == nil {
				continue // the caller did not register it; nothing to bind
			}
			// Viper takes a bound flag's value only when fl.Changed is set.
			if err := v.BindPFlag(b.key, fl); err != nil {
				return Config{}, fmt.Errorf("binding --%s to %s: %w", b.flag, b.key, err)
			}
		}
	}

	if path := configPath(fs); path != "" {
		if err := readConfigFile(v, path); err != nil {
			return Config{}, err
		}
	}

	if unknown := unknownKeys("", v.AllSettings(), reflect.TypeFor[Config]()); len(unknown) > 0 {
		errs := make([]error, 0, len(unknown))
		for _, k := range unknown {
			errs = append(errs, fmt.Errorf("%w %q", ErrUnknownKey, k))
		}
		return Config{}, errors.Join(errs...)
	}

	var c Config
	if err := v.UnmarshalExact(&c, decoderOptions); err != nil {
		return Config{}, decodeErrors(err)
	}
	if err := c.readFiles(); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// configPath returns the file named by --config when the user set it, else
// $JWTGATE_CONFIG; empty means no file.
func configPath(fs *pflag.FlagSet) string {
	if fs != nil {
		if fl := fs.Lookup(configFlag); fl != nil && fl.Changed {
			return fl.Value.String()
		}
	}
	return os.Getenv(configEnv)
}

// readConfigFile reads the YAML file at path into v.
func readConfigFile(v *viper.Viper, path string) error {
	b, err := readFileLimited(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		// Only the line number of the parser's message is kept and the error is
		// deliberately not wrapped: see yamlErrorLine.
		return fmt.Errorf("parsing config file %q: not valid YAML%s", path, yamlErrorLine(err.Error()))
	}
	return nil
}

// yamlErrorLine returns " (line N)" from a YAML parser message, or "". Nothing
// else of the message is kept: the parser quotes the input in many ways (between
// backquotes, in anchor and tag names, after "invalid map key"), and the input
// may be a secret, say a secret file passed as --config by mistake.
func yamlErrorLine(msg string) string {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return ""
	}
	j := i + len("line ")
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	if j == i+len("line ") {
		return ""
	}
	return " (" + msg[i:j] + ")"
}

// readFileLimited reads a whole file of at most maxFileBytes. Its errors name
// the path (through *os.PathError) but never contain the file's bytes.
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("file %q is larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}

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

// readFiles reads the secret and key files the configuration names into the
// matching Secret fields. Setting both a secret and its file is an error.
func (c *Config) readFiles() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(readSecret("jwt.secret", &c.JWT.Secret, c.JWT.SecretFile))
	add(readSecret("jwt.seal_secret", &c.JWT.SealSecret, c.JWT.SealSecretFile))
	for i := range c.JWT.Keys {
		k := &c.JWT.Keys[i]
		prefix := fmt.Sprintf("jwt.keys[%d]", i)
		add(readSecret(prefix+".secret", &k.Secret, k.SecretFile))
		if k.PrivateKeyFile != "" {
			b, err := readKeyFile(prefix+".private_key_file", k.PrivateKeyFile)
			add(err)
			k.PrivateKeyPEM = Secret(b)
		}
	}
	return errors.Join(errs...)
}

// readSecret fills *dst from path (key + "_file"), dropping one trailing newline.
func readSecret(key string, dst *Secret, path string) error {
	if path == "" {
		return nil
	}
	fileKey := key + "_file"
	if *dst != "" {
		return fmt.Errorf("%s and %s are both set; set only one", key, fileKey)
	}
	b, err := readKeyFile(fileKey, path)
	if err != nil {
		return err
	}
	s, ok := strings.CutSuffix(string(b), "\r\n")
	if !ok {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return fmt.Errorf("%s: file %q holds no secret", fileKey, path)
	}
	*dst = Secret(s)
	return nil
}

// readKeyFile reads the file named by configuration key key; an empty file is an
// error, since it would otherwise mean "no secret" and a random key.
func readKeyFile(key, path string) ([]byte, error) {
	b, err := readFileLimited(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: file %q is empty", key, path)
	}
	return b, nil
}

// Path returns the configuration file Load reads for fs: --config when set, else
// $JWTGATE_CONFIG; empty means none.
func Path(fs *pflag.FlagSet) string { return configPath(fs) }

// Files returns every file c was read from besides the configuration file itself:
// secret files, private key files and TLS files, in a stable order. A running
// server watches them (and the configuration file) to reload on change.
func (c Config) Files() []string {
	var out []string
	add := func(p string) {
		if p != "" {
			out = append(out, p)
		}
	}
	add(c.JWT.SecretFile)
	add(c.JWT.SealSecretFile)
	for _, k := range c.JWT.Keys {
		add(k.SecretFile)
		add(k.PrivateKeyFile)
	}
	add(c.Server.TLSCertFile)
	add(c.Server.TLSKeyFile)
	return out
}
