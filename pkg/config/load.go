package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

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

// Path returns the configuration file Load reads for fs: --config when set, else
// $JWTGATE_CONFIG; empty means none.
func Path(fs *pflag.FlagSet) string { return configPath(fs) }
