package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// result is what one run of the command tree produced.
type result struct {
	stdout, stderr string
	err            error
}

// run executes a fresh command tree with args, feeding stdin.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := NewRootCommand()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(t.Context())
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustRun is run that fails the test on an error.
func mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := run(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("jwtgate %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

// cleanEnv blanks every JWTGATE_* variable of the surrounding environment for the
// test, so only what the test sets is configured.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "JWTGATE_") {
			t.Setenv(name, "")
			os.Unsetenv(name) // t.Setenv restores the old value afterwards
		}
	}
}

// newSecret returns a random HMAC secret of 64 base64url characters.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 48)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNotContains fails if s contains any of secrets.
func assertNotContains(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%s contains a secret (%d bytes)", what, len(secret))
		}
	}
}

// decodeSegment decodes one base64url segment of a compact JWS.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

// fixedConfig is a configuration loader that always returns cfg.
func fixedConfig(cfg config.Config) func() (config.Config, error) {
	return func() (config.Config, error) { return cfg, nil }
}

// configSource is a configuration loader whose result a test changes between
// reloads.
type configSource struct {
	mu  sync.Mutex
	cfg config.Config
	err error
}

func (s *configSource) set(cfg config.Config, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg, s.err = cfg, err
}

func (s *configSource) load() (config.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.err
}

// secretFingerprint is the API-key fingerprint of apiKey in tokens signed with the
// single HS256 secret (no seal secret): keyed by the secret, so a test can only
// know it by building the same key.
func secretFingerprint(t *testing.T, secret, apiKey string) string {
	t.Helper()
	k, err := token.NewHMACKey("", token.HS256, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet("", []*token.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	fp := ks.Fingerprint(apiKey)
	if fp == token.Fingerprint(apiKey) {
		t.Fatal("the API-key fingerprint is the unkeyed digest")
	}
	return fp
}

// configFlags returns serve's configuration flags with --config set to path, as
// config.Load reads them.
func configFlags(t *testing.T, path string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	return fs
}
