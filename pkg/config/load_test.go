package config_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	for _, tt := range []struct {
		name string
		fs   bool
	}{
		{name: "nil flag set"},
		{name: "flags registered, none set", fs: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c config.Config
			var err error
			if tt.fs {
				c, err = config.Load(mustFlags(t))
			} else {
				c, err = config.Load(nil)
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(config.Default(), c, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Load with nothing set differs from Default() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadExampleFile(t *testing.T) {
	// The example documents the defaults: loading it must give exactly Default().
	clearEnv(t)
	c, err := config.Load(mustFlags(t, "--config", exampleFile))
	if err != nil {
		t.Fatalf("loading %s: %v", exampleFile, err)
	}
	if diff := cmp.Diff(config.Default(), c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s differs from Default() (-want +got):\n%s", exampleFile, diff)
	}
}

func TestLoadPrecedence(t *testing.T) {
	const file = "server:\n  addr: \"127.0.0.1:1001\"\nlog:\n  level: warn\n"
	for _, tt := range []struct {
		name      string
		file      bool
		env       string
		flag      string
		wantAddr  string
		wantLevel string
	}{
		{name: "defaults", wantAddr: "127.0.0.1:8080", wantLevel: "info"},
		{name: "file over defaults", file: true, wantAddr: "127.0.0.1:1001", wantLevel: "warn"},
		{name: "env over file", file: true, env: "127.0.0.1:1002", wantAddr: "127.0.0.1:1002", wantLevel: "warn"},
		{name: "env over defaults", env: "127.0.0.1:1002", wantAddr: "127.0.0.1:1002", wantLevel: "info"},
		{name: "flag over env and file", file: true, env: "127.0.0.1:1002", flag: "127.0.0.1:1003",
			wantAddr: "127.0.0.1:1003", wantLevel: "warn"},
		{name: "flag over defaults", flag: "127.0.0.1:1003", wantAddr: "127.0.0.1:1003", wantLevel: "info"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			var args []string
			if tt.file {
				args = append(args, "--config", writeFile(t, "jwtgate.yaml", file))
			}
			if tt.env != "" {
				t.Setenv("JWTGATE_SERVER_ADDR", tt.env)
			}
			if tt.flag != "" {
				args = append(args, "--addr", tt.flag)
			}
			c, err := config.Load(mustFlags(t, args...))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Server.Addr != tt.wantAddr {
				t.Errorf("server.addr = %q, want %q", c.Server.Addr, tt.wantAddr)
			}
			if c.Log.Level != tt.wantLevel {
				t.Errorf("log.level = %q, want %q", c.Log.Level, tt.wantLevel)
			}
		})
	}
}

func TestLoadFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv("JWTGATE_LOG_LEVEL", "warn")
	t.Setenv("JWTGATE_CHAT_UPSTREAM_URL", "http://127.0.0.1:1/env")
	c, err := config.Load(mustFlags(t,
		"--addr", "127.0.0.1:9999", "--log-level", "debug", "--upstream-url", "http://127.0.0.1:2/flag"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Server.Addr != "127.0.0.1:9999" {
		t.Errorf("server.addr = %q, want the flag's", c.Server.Addr)
	}
	if c.Log.Level != "debug" {
		t.Errorf("log.level = %q, want the flag's over the environment's", c.Log.Level)
	}
	if got := c.Chat.UpstreamURL.String(); got != "http://127.0.0.1:2/flag" {
		t.Errorf("chat.upstream_url = %q, want the flag's", got)
	}
}

func TestLoadUnchangedFlagKeepsEnv(t *testing.T) {
	// A registered flag the user did not set must not override the environment
	// with its help-text default.
	clearEnv(t)
	t.Setenv("JWTGATE_LOG_LEVEL", "error")
	c, err := config.Load(mustFlags(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Log.Level != "error" {
		t.Errorf("log.level = %q, want error from the environment", c.Log.Level)
	}
}

func TestLoadEnv(t *testing.T) {
	clearEnv(t)
	// The file sets values the environment must override.
	path := writeFile(t, "jwtgate.yaml", "chat:\n  upstream_auth_scheme: Token\n  allowed_paths: [/file]\n")
	env := map[string]string{
		"JWTGATE_CONFIG":                           path,
		"JWTGATE_SERVER_ADDR":                      "127.0.0.1:7070",
		"JWTGATE_SERVER_MAX_BODY_BYTES":            "1234",
		"JWTGATE_JWT_SECRET":                       secret32,
		"JWTGATE_JWT_TTL":                          "5m",
		"JWTGATE_JWT_NOT_BEFORE":                   "2025-01-02T03:04:05Z",
		"JWTGATE_API_KEYS_ALLOWED":                 "key-a, key-b",
		"JWTGATE_CHAT_UPSTREAM_URL":                "http://127.0.0.1:9000/v1",
		"JWTGATE_CHAT_UPSTREAM_AUTH_SCHEME":        "Key",
		"JWTGATE_CHAT_ALLOWED_PATHS":               "/v1/chat,/v1/models",
		"JWTGATE_CHAT_ALLOW_SET_COOKIE":            "true",
		"JWTGATE_CHAT_ALLOWED_METHODS":             "POST, GET",
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE":   "30",
		"JWTGATE_SERVER_TRUSTED_PROXIES":           "10.0.0.1,192.168.0.0/16",
		"JWTGATE_JWT_VERIFY_CACHE_SIZE":            "0",
		"JWTGATE_METRICS_ENABLED":                  "false",
		"JWTGATE_METRICS_ADDR":                     "127.0.0.1:9090",
		"JWTGATE_LIMITS_DEFAULT_MODELS":            "gpt-4o-mini, claude-*",
		"JWTGATE_LIMITS_DEFAULT_MAX_OUTPUT_TOKENS": "512",
		"JWTGATE_LIMITS_MAX_PATHS":                 "/chat/completions,/v1/messages",
		"JWTGATE_LIMITS_MAX_TOTAL_TOKENS":          "100000",
		"JWTGATE_LIMITS_REDIS_URL":                 "rediss://:pw@redis.internal:6380/2",
		"JWTGATE_LIMITS_MAX_SESSIONS":              "5000",
		"JWTGATE_LIMITS_METRICS_MODELS":            "gpt-4o-mini, claude-sonnet-4-5",
		// jwt.keys comes from the file only: this must be ignored, not decoded.
		"JWTGATE_JWT_KEYS": "not-a-list",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	c, err := config.Load(nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Default()
	want.Server.Addr = "127.0.0.1:7070"
	want.Server.MaxBodyBytes = 1234
	want.JWT.Secret = secret32
	want.JWT.TTL = 5 * time.Minute
	want.JWT.NotBefore = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	want.APIKeys.Allowed = []config.Secret{"key-a", "key-b"}
	want.Chat.UpstreamAuthScheme = "Key"
	want.Chat.AllowedPaths = []string{"/v1/chat", "/v1/models"}
	want.Chat.AllowSetCookie = true
	want.Chat.AllowedMethods = []string{"POST", "GET"}
	want.RateLimit.SessionsPerMinute = 30
	want.Server.TrustedProxies = []string{"10.0.0.1", "192.168.0.0/16"}
	want.JWT.VerifyCacheSize = 0
	want.Metrics = config.Metrics{Enabled: false, Addr: "127.0.0.1:9090"}
	want.Limits.Default = config.LimitSet{Models: []string{"gpt-4o-mini", "claude-*"}, MaxOutputTokens: 512}
	want.Limits.Max = config.LimitSet{Paths: []string{"/chat/completions", "/v1/messages"}, TotalTokens: 100000}
	want.Limits.RedisURL = "rediss://:pw@redis.internal:6380/2"
	want.Limits.MaxSessions = 5000
	want.Limits.MetricsModels = []string{"gpt-4o-mini", "claude-sonnet-4-5"}
	got := c
	if got.Chat.UpstreamURL == nil || got.Chat.UpstreamURL.String() != "http://127.0.0.1:9000/v1" {
		t.Errorf("chat.upstream_url = %v, want http://127.0.0.1:9000/v1", got.Chat.UpstreamURL)
	}
	got.Chat.UpstreamURL = nil
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load from the environment (-want +got):\n%s", diff)
	}
}

// TestLoadEmptyEnvIsUnset checks that an empty environment variable leaves the
// file's value (or the default) in place: JWTGATE_API_KEYS_ALLOWED= must not turn
// the allowlist off and JWTGATE_JWT_SECRET= must not swap the secret for a random
// key, both of which widen access.
func TestLoadEmptyEnvIsUnset(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "jwtgate.yaml", "jwt:\n  secret: "+secret32+"\n  not_before: 2025-01-02T03:04:05Z\n"+
		"api_keys:\n  allowed: [sk-only-this-one]\nchat:\n  upstream_auth_scheme: Token\n")
	t.Setenv("JWTGATE_CONFIG", path)
	for _, name := range []string{
		"JWTGATE_API_KEYS_ALLOWED", "JWTGATE_JWT_SECRET", "JWTGATE_JWT_NOT_BEFORE",
		"JWTGATE_CHAT_UPSTREAM_AUTH_SCHEME", "JWTGATE_SERVER_ADDR", "JWTGATE_LOG_LEVEL",
	} {
		t.Setenv(name, "")
	}
	c, err := config.Load(nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.APIKeys.Allowed; len(got) != 1 || got[0] != "sk-only-this-one" {
		t.Errorf("api_keys.allowed = %d entries, want the file's one", len(got))
	}
	if c.JWT.Secret != secret32 {
		t.Error("jwt.secret is not the file's")
	}
	if want := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC); !c.JWT.NotBefore.Equal(want) {
		t.Errorf("jwt.not_before = %s, want the file's %s", c.JWT.NotBefore, want)
	}
	if c.Chat.UpstreamAuthScheme != "Token" {
		t.Errorf("chat.upstream_auth_scheme = %q, want the file's Token", c.Chat.UpstreamAuthScheme)
	}
	if d := config.Default(); c.Server.Addr != d.Server.Addr || c.Log.Level != d.Log.Level {
		t.Errorf("server.addr, log.level = %q, %q; want the defaults %q, %q", c.Server.Addr, c.Log.Level, d.Server.Addr, d.Log.Level)
	}
}

func TestLoadConfigPath(t *testing.T) {
	clearEnv(t)
	envFile := writeFile(t, "env.yaml", "server:\n  addr: \"127.0.0.1:2001\"\n")
	flagFile := writeFile(t, "flag.yaml", "server:\n  addr: \"127.0.0.1:2002\"\n")
	t.Setenv("JWTGATE_CONFIG", envFile)

	c, err := config.Load(nil)
	if err != nil {
		t.Fatalf("Load with JWTGATE_CONFIG: %v", err)
	}
	if c.Server.Addr != "127.0.0.1:2001" {
		t.Errorf("with JWTGATE_CONFIG, server.addr = %q, want the env file's", c.Server.Addr)
	}
	c, err = config.Load(mustFlags(t, "--config", flagFile))
	if err != nil {
		t.Fatalf("Load with --config: %v", err)
	}
	if c.Server.Addr != "127.0.0.1:2002" {
		t.Errorf("with --config and JWTGATE_CONFIG, server.addr = %q, want the flag file's", c.Server.Addr)
	}
}

func TestLoadMissingConfigFile(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := config.Load(mustFlags(t, "--config", path))
	wantErrContaining(t, err, path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
}

func TestLoadUnknownKey(t *testing.T) {
	for _, tt := range []struct {
		file string
		key  string
	}{
		{file: "testdata/unknown-key.yaml", key: "jwt.secrett"},
		{file: "testdata/unknown-key-in-keys.yaml", key: "jwt.keys[1].scret"},
		{file: "testdata/unknown-section.yaml", key: "servr"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			clearEnv(t)
			_, err := config.Load(mustFlags(t, "--config", tt.file))
			if !errors.Is(err, config.ErrUnknownKey) {
				t.Fatalf("Load(%s) = %v, want ErrUnknownKey", tt.file, err)
			}
			wantErrContaining(t, err, fmt.Sprintf("unknown configuration key %q", tt.key))
			wantNoSecret(t, err.Error(), secret32)
			wantNoSecret(t, err.Error(), "fedcba9876543210fedcba9876543210")
		})
	}
	t.Run("known keys are not ErrUnknownKey", func(t *testing.T) {
		_, err := loadYAML(t, "jwt:\n  ttl: fast\n")
		if err == nil || errors.Is(err, config.ErrUnknownKey) {
			t.Errorf("bad value: got %v, want an error that is not ErrUnknownKey", err)
		}
	})
}

func TestLoadKeys(t *testing.T) {
	clearEnv(t)
	c, err := config.Load(mustFlags(t, "--config", "testdata/keys.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []config.Key{
		{KID: "prev", Alg: "HS256", Secret: "prev-secret-0123456789abcdef-0123"},
		{KID: "next", Alg: "HS384", Secret: "next-secret-0123456789abcdef-0123456789abcdef-01"},
	}
	if diff := cmp.Diff(want, c.JWT.Keys); diff != "" {
		t.Errorf("jwt.keys (-want +got):\n%s", diff)
	}
	if c.JWT.SigningKey != "next" {
		t.Errorf("jwt.signing_key = %q, want next", c.JWT.SigningKey)
	}
}

func TestLoadPrivateKeyFile(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	keyFile := writeFile(t, "ed.pem", string(pemBytes))
	c := mustLoadYAML(t, fmt.Sprintf("jwt:\n  keys:\n    - kid: ed-1\n      alg: EdDSA\n      private_key_file: %q\n", keyFile))
	if len(c.JWT.Keys) != 1 || string(c.JWT.Keys[0].PrivateKeyPEM) != string(pemBytes) {
		t.Fatalf("jwt.keys[0].PrivateKeyPEM does not hold %s", keyFile)
	}

	// private_key_pem is not a key a file may set.
	_, err = loadYAML(t, "jwt:\n  keys:\n    - kid: ed-1\n      alg: EdDSA\n      private_key_pem: x\n")
	if !errors.Is(err, config.ErrUnknownKey) {
		t.Errorf("private_key_pem in the file: got %v, want ErrUnknownKey", err)
	}
}

func TestLoadBadValue(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "bad duration in file", yaml: "jwt:\n  ttl: fast\n", want: []string{`jwt.ttl: invalid duration "fast"`}},
		{name: "bad duration in env", env: map[string]string{"JWTGATE_CHAT_ECHO_DELAY": "soon"},
			want: []string{`chat.echo_delay: invalid duration "soon"`}},
		{name: "duration without unit", yaml: "jwt:\n  leeway: 30\n", want: []string{"jwt.leeway: invalid duration 30"}},
		{name: "bad integer in env", env: map[string]string{"JWTGATE_SERVER_MAX_HEADER_BYTES": "lots"},
			want: []string{`server.max_header_bytes: invalid integer "lots"`}},
		{name: "bad boolean in env", env: map[string]string{"JWTGATE_CHAT_ALLOW_SET_COOKIE": "maybe"},
			want: []string{`chat.allow_set_cookie: invalid boolean "maybe"`}},
		{name: "fractional integer", yaml: "rate_limit:\n  burst: 1.5\n", want: []string{"rate_limit.burst: want an integer"}},
		{name: "number for string", yaml: "jwt:\n  issuer: 7\n", want: []string{"jwt.issuer: want a string, got a number"}},
		{name: "list for string", yaml: "log:\n  level: [info]\n", want: []string{"log.level: want a string, got a list"}},
		{name: "scalar for section", yaml: "jwt: 5\n", want: []string{"jwt:"}},
		{name: "scalar for jwt.keys", yaml: "jwt:\n  keys: 5\n", want: []string{"jwt.keys:"}},
		{name: "scalar in jwt.keys", yaml: "jwt:\n  keys: [5]\n", want: []string{"jwt.keys[0]:"}},
		{name: "bad not_before", yaml: "jwt:\n  not_before: yesterday\n",
			want: []string{`jwt.not_before: invalid RFC 3339 time "yesterday"`}},
		{name: "mapping for URL", yaml: "chat:\n  upstream_url: {host: x}\n",
			want: []string{"chat.upstream_url: want a URL string, got a mapping"}},
		{name: "several at once", yaml: "jwt:\n  ttl: fast\n  issuer: 7\n",
			want: []string{`jwt.ttl: invalid duration "fast"`, "jwt.issuer: want a string"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := config.Load(mustFlags(t, "--config", writeFile(t, "c.yaml", tt.yaml)))
			wantErrContaining(t, err, tt.want...)
		})
	}
}

func TestLoadBadDurationFile(t *testing.T) {
	clearEnv(t)
	_, err := config.Load(mustFlags(t, "--config", "testdata/bad-duration.yaml"))
	wantErrContaining(t, err, `jwt.ttl: invalid duration "fast"`)
}

func TestLoadSecretLength(t *testing.T) {
	for _, tt := range []struct {
		name    string
		alg     string
		n       int
		wantErr bool
	}{
		{name: "HS256 31 bytes", alg: "HS256", n: 31, wantErr: true},
		{name: "HS256 32 bytes", alg: "HS256", n: 32},
		{name: "HS384 47 bytes", alg: "HS384", n: 47, wantErr: true},
		{name: "HS384 48 bytes", alg: "HS384", n: 48},
		{name: "HS512 63 bytes", alg: "HS512", n: 63, wantErr: true},
		{name: "HS512 64 bytes", alg: "HS512", n: 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			secret := strings.Repeat("s", tt.n-1) + "!"
			t.Setenv("JWTGATE_JWT_SECRET", secret)
			t.Setenv("JWTGATE_JWT_ALGORITHM", tt.alg)
			c, err := config.Load(nil)
			if tt.wantErr {
				wantErrContaining(t, err, "jwt.secret", fmt.Sprintf("got %d", tt.n))
				wantNoSecret(t, err.Error(), secret)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if string(c.JWT.Secret) != secret {
				t.Errorf("jwt.secret was not loaded from JWTGATE_JWT_SECRET")
			}
		})
	}
}

func TestLoadSecretFile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content string
		want    string
	}{
		{name: "no newline", content: secret32, want: secret32},
		{name: "trailing newline dropped", content: secret32 + "\n", want: secret32},
		{name: "trailing CRLF dropped", content: secret32 + "\r\n", want: secret32},
		{name: "only one newline dropped", content: secret32 + "\n\n", want: secret32 + "\n"},
		{name: "inner newline kept", content: secret32 + "\nmore\n", want: secret32 + "\nmore"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			secretFile := writeFile(t, "secret", tt.content)
			sealFile := writeFile(t, "seal", "seal-"+tt.content)
			keyFile := writeFile(t, "key", "key-"+tt.content)
			c := mustLoadYAML(t, fmt.Sprintf("jwt:\n  secret_file: %q\n  seal_secret_file: %q\n", secretFile, sealFile))
			if string(c.JWT.Secret) != tt.want {
				t.Errorf("jwt.secret = %q, want the file's content %q", string(c.JWT.Secret), tt.want)
			}
			if string(c.JWT.SealSecret) != "seal-"+tt.want {
				t.Errorf("jwt.seal_secret = %q, want %q", string(c.JWT.SealSecret), "seal-"+tt.want)
			}
			if c.JWT.SecretFile != secretFile {
				t.Errorf("jwt.secret_file = %q, want it kept as %q", c.JWT.SecretFile, secretFile)
			}

			c = mustLoadYAML(t, fmt.Sprintf("jwt:\n  keys:\n    - kid: k\n      alg: HS256\n      secret_file: %q\n", keyFile))
			if got := string(c.JWT.Keys[0].Secret); got != "key-"+tt.want {
				t.Errorf("jwt.keys[0].secret = %q, want %q", got, "key-"+tt.want)
			}
		})
	}
}

func TestLoadSecretFileErrors(t *testing.T) {
	secretFile := writeFile(t, "secret", secret32+"\n")
	emptyFile := writeFile(t, "empty", "")
	newlineFile := writeFile(t, "newline", "\n")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tt := range []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "secret and secret_file", yaml: fmt.Sprintf("jwt:\n  secret: %q\n  secret_file: %q\n", secret32, secretFile),
			want: []string{"jwt.secret and jwt.secret_file are both set"}},
		{name: "secret from env and secret_file from file", yaml: fmt.Sprintf("jwt:\n  secret_file: %q\n", secretFile),
			env: map[string]string{"JWTGATE_JWT_SECRET": secret32}, want: []string{"jwt.secret and jwt.secret_file are both set"}},
		{name: "seal_secret and seal_secret_file",
			yaml: fmt.Sprintf("jwt:\n  seal_secret: %q\n  seal_secret_file: %q\n", secret32, secretFile),
			want: []string{"jwt.seal_secret and jwt.seal_secret_file are both set"}},
		{name: "key secret and secret_file",
			yaml: fmt.Sprintf("jwt:\n  keys:\n    - kid: k\n      alg: HS256\n      secret: %q\n      secret_file: %q\n", secret32, secretFile),
			want: []string{"jwt.keys[0].secret and jwt.keys[0].secret_file are both set"}},
		{name: "missing secret_file", yaml: fmt.Sprintf("jwt:\n  secret_file: %q\n", missing),
			want: []string{"jwt.secret_file", missing}},
		{name: "empty secret_file", yaml: fmt.Sprintf("jwt:\n  secret_file: %q\n", emptyFile),
			want: []string{"jwt.secret_file", emptyFile, "empty"}},
		{name: "secret_file with only a newline", yaml: fmt.Sprintf("jwt:\n  secret_file: %q\n", newlineFile),
			want: []string{"jwt.secret_file", newlineFile, "no secret"}},
		{name: "missing private_key_file",
			yaml: fmt.Sprintf("jwt:\n  keys:\n    - kid: k\n      alg: ES256\n      private_key_file: %q\n", missing),
			want: []string{"jwt.keys[0].private_key_file", missing}},
		{name: "private_key_file without a PEM block",
			yaml: fmt.Sprintf("jwt:\n  keys:\n    - kid: k\n      alg: ES256\n      private_key_file: %q\n", secretFile),
			want: []string{"jwt.keys[0].private_key_file", "PEM"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := config.Load(mustFlags(t, "--config", writeFile(t, "c.yaml", tt.yaml)))
			wantErrContaining(t, err, tt.want...)
			wantNoSecret(t, err.Error(), secret32)
		})
	}
}

func TestLoadErrorsNeverContainSecrets(t *testing.T) {
	const planted = "planted-secret-value-do-not-print-0123456789"
	const short = "planted-short-secret"
	secretFile := writeFile(t, "secret", planted)
	for _, tt := range []struct {
		name string
		yaml string
		env  map[string]string
	}{
		{name: "short secret", yaml: fmt.Sprintf("jwt:\n  secret: %q\n", short)},
		{name: "short seal secret", yaml: fmt.Sprintf("jwt:\n  seal_secret: %q\n", short)},
		{name: "short key secret", yaml: fmt.Sprintf("jwt:\n  keys:\n    - {kid: k, alg: HS512, secret: %q}\n", planted)},
		{name: "secret and secret_file", yaml: fmt.Sprintf("jwt:\n  secret: %q\n  secret_file: %q\n", planted, secretFile)},
		{name: "secret with jwt.keys",
			yaml: fmt.Sprintf("jwt:\n  secret: %q\n  keys:\n    - {kid: k, alg: HS256, secret: %q}\n", planted, planted+"x")},
		{name: "secret on an asymmetric key", yaml: fmt.Sprintf("jwt:\n  keys:\n    - {kid: k, alg: RS256, secret: %q}\n", planted)},
		{name: "secret beside an unknown key", yaml: fmt.Sprintf("jwt:\n  secret: %q\n  ttll: 1m\n", planted)},
		{name: "secret beside a bad value", yaml: fmt.Sprintf("jwt:\n  secret: %q\n  ttl: fast\n", planted)},
		{name: "bad sha256 allow-list entry", yaml: fmt.Sprintf("api_keys:\n  allowed: [\"sha256:%s\"]\n", planted)},
		{name: "redis URL with a bad port", yaml: fmt.Sprintf("limits:\n  redis_url: \"redis://:%s@127.0.0.1:x/0\"\n", planted)},
		{name: "redis URL with a bad scheme", yaml: fmt.Sprintf("limits:\n  redis_url: \"http://:%s@127.0.0.1:6379/0\"\n", planted)},
		{name: "redis URL with a bad database", env: map[string]string{"JWTGATE_LIMITS_REDIS_URL": "redis://:" + planted + "@127.0.0.1:6379/x"}},
		{name: "unparsable upstream URL", yaml: fmt.Sprintf("chat:\n  upstream_url: \"http://user:%s@127.0.0.1:x/\"\n", planted)},
		{name: "secret file given as config", yaml: planted},
		{name: "secret as a number", yaml: "jwt:\n  secret: 123456789012345678901234567890123\n"},
		{name: "secret in the environment, short", env: map[string]string{"JWTGATE_JWT_SECRET": short}},
		{name: "allow-list in the environment, empty entry", env: map[string]string{"JWTGATE_API_KEYS_ALLOWED": planted + ",,"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := config.Load(mustFlags(t, "--config", writeFile(t, "c.yaml", tt.yaml)))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, s := range []string{planted, short, "123456789012345678901234567890123"} {
				wantNoSecret(t, err.Error(), s)
			}
		})
	}
}

func TestLoadCallsValidate(t *testing.T) {
	_, err := loadYAML(t, "jwt:\n  ttl: 2h\nlog:\n  level: loud\n")
	wantErrContaining(t, err, "jwt.ttl", "log.level")
}

func TestLoadFreshViperPerCall(t *testing.T) {
	// Two loads with different files must not see each other's values.
	a := mustLoadYAML(t, "server:\n  addr: \"127.0.0.1:3001\"\n")
	b := mustLoadYAML(t, "log:\n  level: debug\n")
	if a.Server.Addr != "127.0.0.1:3001" || a.Log.Level != "info" {
		t.Errorf("first load: addr %q level %q", a.Server.Addr, a.Log.Level)
	}
	if b.Server.Addr != "127.0.0.1:8080" || b.Log.Level != "debug" {
		t.Errorf("second load kept state from the first: addr %q level %q", b.Server.Addr, b.Log.Level)
	}
}
