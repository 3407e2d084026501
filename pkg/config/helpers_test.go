package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/spf13/pflag"
)

// secret32 is exactly 32 bytes, the shortest HS256 secret accepted.
const secret32 = "0123456789abcdef0123456789abcdef"

// exampleFile is the shipped example configuration.
const exampleFile = "../../config/jwtgate.example.yaml"

// clearEnv unsets every JWTGATE_ variable for the duration of the test, so the
// environment the tests run in cannot change their outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "JWTGATE_") {
			t.Setenv(k, "") // restores the old value after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatalf("unsetting %s: %v", k, err)
			}
		}
	}
}

// mustFlags returns a flag set with jwtgate's flags, parsed from args.
func mustFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("jwtgate", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing flags %q: %v", args, err)
	}
	return fs
}

// writeFile writes content to name in a fresh temporary directory and returns the path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	return p
}

// loadYAML loads content as the --config file, with a clean environment.
func loadYAML(t *testing.T, content string, args ...string) (config.Config, error) {
	t.Helper()
	clearEnv(t)
	path := writeFile(t, "jwtgate.yaml", content)
	return config.Load(mustFlags(t, append([]string{"--config", path}, args...)...))
}

// mustLoadYAML is loadYAML that fails the test on error.
func mustLoadYAML(t *testing.T, content string, args ...string) config.Config {
	t.Helper()
	c, err := loadYAML(t, content, args...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// wantErrContaining fails the test unless err is non-nil and its text holds
// every one of subs.
func wantErrContaining(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// wantNoSecret fails the test if text contains secret.
func wantNoSecret(t *testing.T, text, secret string) {
	t.Helper()
	if secret != "" && strings.Contains(text, secret) {
		t.Errorf("text leaks a secret: %q", text)
	}
}
