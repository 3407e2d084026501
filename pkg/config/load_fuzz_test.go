package config_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// FuzzLoad feeds arbitrary YAML to Load: it must never panic, and must either
// fail or return a configuration that passes Validate and never logs its secret.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{
		exampleFile,
		"testdata/unknown-key.yaml",
		"testdata/unknown-key-in-keys.yaml",
		"testdata/unknown-section.yaml",
		"testdata/bad-duration.yaml",
		"testdata/keys.yaml",
	} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"null",
		"- a\n- b\n",
		"jwt: 5\n",
		"jwt:\n  secret: " + secret32 + "\n",
		"jwt:\n  secret: short\n",
		"jwt:\n  ttl: 0\n  leeway: 0\n",
		"jwt:\n  keys: [{kid: a, alg: HS256, secret: " + secret32 + "}, 7, [x]]\n",
		"jwt:\n  not_before: 2025-01-01T00:00:00Z\n",
		"api_keys:\n  allowed: [a, 'sha256:00', 3]\n",
		"chat:\n  upstream_url: 'http://u:p@127.0.0.1/?q#f'\n  allowed_paths: [/v1, x]\n",
		"a: &a [*a, *a]\n",
		"server: {addr: !!binary aGk=}\n",
		"{? [a]: b}\n",
		"server:\n  max_body_bytes: 1e400\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(mustFlags(t, "--config", path))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned a config that fails Validate: %v", err)
		}
		if c.JWT.Secret != "" {
			var b strings.Builder
			slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", c)
			fmt.Fprintf(&b, "%v %+v", c, c)
			if strings.Contains(b.String(), string(c.JWT.Secret)) {
				t.Fatalf("the loaded secret shows in the log or %%v output")
			}
		}
	})
}
