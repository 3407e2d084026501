package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// testServer is serve running in the test process with a changeable configuration.
type testServer struct {
	addr   string
	logs   *syncBuffer
	src    *configSource
	reload chan<- os.Signal
}

// startServe runs serve with cfg until the test ends, and returns once it listens.
func startServe(t *testing.T, cfg config.Config) *testServer {
	t.Helper()
	cfg.Server.Addr = "127.0.0.1:0"
	src := &configSource{cfg: cfg}
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, src.load, &logs, sig, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve = %v, want nil", err)
		}
	})
	addr := listenAddr(t, &logs, done, "listening")
	return &testServer{addr: addr, logs: &logs, src: src, reload: sig}
}

// reloadAndWait triggers a reload and waits until the n-th log line containing
// marker appears (n counts every such line since start).
func (s *testServer) reloadAndWait(t *testing.T, marker string) {
	t.Helper()
	n := strings.Count(s.logs.String(), marker)
	s.reload <- syscall.SIGHUP
	waitFor(t, func() bool { return strings.Count(s.logs.String(), marker) > n }, marker)
}

// session posts apiKey to /sessions and returns the status and token.
func (s *testServer) session(t *testing.T, apiKey string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.addr+"/sessions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.AccessToken
}

// current returns the status of GET /sessions/current with tok.
func (s *testServer) current(t *testing.T, tok string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.addr+"/sessions/current", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// kidOf returns the kid in a token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := decodeSegment(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

const reloaded = "configuration reloaded"

func TestReloadRotatesKeysAndAllowlist(t *testing.T) {
	oldSecret, newSecretValue := newSecret(t), newSecret(t)
	first, second := "sk-first-0123456789", "sk-second-0123456789"
	cfg := config.Default()
	cfg.JWT.Secret = config.Secret(oldSecret)
	cfg.APIKeys.Allowed = []config.Secret{config.Secret(first)}
	s := startServe(t, cfg)

	status, oldTok := s.session(t, first)
	if status != http.StatusCreated {
		t.Fatalf("POST /sessions = %d, want 201", status)
	}
	if status, _ := s.session(t, second); status != http.StatusUnauthorized {
		t.Fatalf("POST /sessions with an unlisted key = %d, want 401", status)
	}

	// Rotate: a new signing key, the old one kept (same kid) for verification,
	// and a second allowed API key.
	rotated := config.Default()
	rotated.JWT.Keys = []config.Key{
		{KID: "next", Alg: token.HS256, Secret: config.Secret(newSecretValue)},
		{KID: "hs-" + token.Fingerprint(oldSecret), Alg: token.HS256, Secret: config.Secret(oldSecret)},
	}
	rotated.JWT.SigningKey = "next"
	rotated.APIKeys.Allowed = []config.Secret{config.Secret(first), config.Secret(second)}
	s.src.set(rotated, nil)
	s.reloadAndWait(t, reloaded)

	if got := s.current(t, oldTok); got != http.StatusOK {
		t.Errorf("a token signed before the rotation = %d, want 200", got)
	}
	status, newTok := s.session(t, second)
	if status != http.StatusCreated {
		t.Fatalf("POST /sessions with the newly allowed key = %d, want 201", status)
	}
	if kid := kidOf(t, newTok); kid != "next" {
		t.Errorf("new tokens are signed by %q, want next", kid)
	}

	// A broken configuration changes nothing.
	s.src.set(config.Config{}, errors.New("jwt.ttl: invalid duration"))
	s.reloadAndWait(t, "configuration not reloaded")
	if status, tok := s.session(t, second); status != http.StatusCreated || kidOf(t, tok) != "next" {
		t.Errorf("after a failed reload: POST /sessions = %d, want 201 signed by next", status)
	}

	// Dropping every key would swap in a random one: refused.
	s.src.set(config.Default(), nil)
	s.reloadAndWait(t, "no jwt.secret, jwt.secret_file or jwt.keys any more")
	if got := s.current(t, newTok); got != http.StatusOK {
		t.Errorf("after a refused reload the current token = %d, want 200", got)
	}
	assertNotContains(t, "logs", s.logs.String(), oldSecret, newSecretValue, first, second, oldTok, newTok)
}

func TestReloadKeepsRandomKey(t *testing.T) {
	s := startServe(t, config.Default())
	status, tok := s.session(t, testAPIKey)
	if status != http.StatusCreated {
		t.Fatalf("POST /sessions = %d, want 201", status)
	}
	allowOnly := config.Default()
	allowOnly.APIKeys.Allowed = []config.Secret{"sk-only-this-one"}
	s.src.set(allowOnly, nil)
	s.reloadAndWait(t, reloaded)
	if got := s.current(t, tok); got != http.StatusOK {
		t.Errorf("a token from the in-memory key after reload = %d, want 200", got)
	}
	if status, _ := s.session(t, testAPIKey); status != http.StatusUnauthorized {
		t.Errorf("POST /sessions with a key the reloaded allowlist lacks = %d, want 401", status)
	}
}

// TestReloadRandomKeyAppliesJWTSettings reloads with still no key configured: the
// in-memory key stays, and the other jwt.* settings apply (here jwt.not_before
// revokes the token issued before it).
func TestReloadRandomKeyAppliesJWTSettings(t *testing.T) {
	s := startServe(t, config.Default())
	status, tok := s.session(t, testAPIKey)
	if status != http.StatusCreated {
		t.Fatalf("POST /sessions = %d, want 201", status)
	}
	revoke := config.Default()
	revoke.JWT.NotBefore = time.Now().Add(time.Hour)
	s.src.set(revoke, nil)
	s.reloadAndWait(t, reloaded)
	if got := s.current(t, tok); got != http.StatusUnauthorized {
		t.Errorf("token issued before the reloaded jwt.not_before = %d, want 401", got)
	}
}

// refusedConfig is a configuration file that start-up refuses, and the
// configuration key the refusal must name.
type refusedConfig struct {
	name string
	yaml string // SECRET stands for the running server's HMAC secret
	key  string
}

// refusedConfigs collects what start-up refuses, from the tables of
// pkg/config (load and validate), pkg/server (chat.*), buildTokens and serve:
// every one of them must be refused by a reload too, or a "successful" reload
// would leave a configuration the next restart does not start with.
func refusedConfigs(t *testing.T, dir string) []refusedConfig {
	t.Helper()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pemOf := func(priv any) string {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weakRSA := write("rsa1024.pem", pemOf(rsa1024))
	x25519PEM := write("x25519.pem", pemOf(x25519))
	garbage := write("garbage.pem", "not a key\n")
	edPEM := write("ed.pem", mustEd25519PEM(t))
	emptyFile := write("empty", "")
	missing := filepath.Join(dir, "missing")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	otherCert, otherKey := filepath.Join(dir, "other-cert.pem"), filepath.Join(dir, "other-key.pem")
	writeCert(t, otherCert, otherKey, 2)

	const jwt = "jwt:\n  secret: SECRET\n"
	// srv starts a server section that listens on a free port, as every
	// configuration here does unless it is about server.addr.
	const srv = "server:\n  addr: 127.0.0.1:0\n"
	return []refusedConfig{
		// Loading: the file, its keys and values, and the files it names.
		{"not YAML", "jwt: [\n", "parsing config file"},
		{"unknown key", jwt + "  ttll: 1m\n", "jwt.ttll"},
		{"unknown section", jwt + "chats:\n  x: 1\n", "chats"},
		{"bad duration", jwt + "  ttl: fast\n", "jwt.ttl"},
		{"duration without unit", jwt + "  ttl: 15\n", "jwt.ttl"},
		{"bad time", jwt + "  not_before: yesterday\n", "jwt.not_before"},
		{"bad boolean", jwt + "chat:\n  allow_set_cookie: maybe\n", "chat.allow_set_cookie"},
		{"unparsable URL", jwt + "chat:\n  upstream_url: \"http://127.0.0.1:x/\"\n", "chat.upstream_url"},
		{"list for a string", jwt + "log:\n  level: [info]\n", "log.level"},
		{"secret file missing", "jwt:\n  secret_file: " + missing + "\n", "jwt.secret_file"},
		{"secret file empty", "jwt:\n  secret_file: " + emptyFile + "\n", "jwt.secret_file"},
		{"secret and secret file", jwt + "  secret_file: " + emptyFile + "\n", "jwt.secret"},
		{"private key file missing", jwt[:5] + "\n  keys:\n    - {kid: a, alg: EdDSA, private_key_file: " + missing + "}\n", "jwt.keys[0].private_key_file"},

		// config.Validate.
		{"server.addr", jwt + "server:\n  addr: nowhere\n", "server.addr"},
		{"server.addr port", jwt + "server:\n  addr: 127.0.0.1:99999\n", "server.addr"},
		{"zero read timeout", jwt + srv + "  read_timeout: 0s\n", "server.read_timeout"},
		{"zero max body", jwt + srv + "  max_body_bytes: 0\n", "server.max_body_bytes"},
		{"trusted proxy", jwt + srv + "  trusted_proxies: [not-an-ip]\n", "server.trusted_proxies[0]"},
		{"TLS cert without key", jwt + srv + "  tls_cert_file: " + certFile + "\n", "server.tls_cert_file"},
		{"short secret", "jwt:\n  secret: too-short\n", "jwt.secret"},
		{"HS512 secret too short", "jwt:\n  algorithm: HS512\n  secret: " + strings.Repeat("s", 63) + "\n", "jwt.secret"},
		{"bad algorithm", jwt + "  algorithm: none\n", "jwt.algorithm"},
		{"bad key_id", jwt + "  key_id: \"a b\"\n", "jwt.key_id"},
		{"short seal secret", jwt + "  seal_secret: short\n", "jwt.seal_secret"},
		{"empty issuer", jwt + "  issuer: \"\"\n", "jwt.issuer"},
		{"zero ttl", jwt + "  ttl: 0s\n", "jwt.ttl"},
		{"ttl over max_ttl", jwt + "  ttl: 2h\n", "jwt.ttl"},
		{"max_ttl over max_session_age", jwt + "  max_ttl: 48h\n", "jwt.max_ttl"},
		{"negative leeway", jwt + "  leeway: -1s\n", "jwt.leeway"},
		{"huge leeway", jwt + "  leeway: 1h\n", "jwt.leeway"},
		{"negative cache", jwt + "  verify_cache_size: -1\n", "jwt.verify_cache_size"},
		{"negative JWKS max age", jwt + "  jwks_max_age: -1s\n", "jwt.jwks_max_age"},
		{"api_key_claim", jwt + "  api_key_claim: clear\n", "jwt.api_key_claim"},
		{"keys with secret", jwt + "  keys:\n    - {kid: a, alg: HS256, secret: SECRET}\n", "jwt.keys"},
		{"key without kid", "jwt:\n  keys:\n    - {alg: HS256, secret: SECRET}\n", "jwt.keys[0].kid"},
		{"duplicate kid", "jwt:\n  keys:\n    - {kid: a, alg: HS256, secret: SECRET}\n    - {kid: a, alg: HS256, secret: SECRET}\n", "jwt.keys[1].kid"},
		{"kid with a quote", "jwt:\n  keys:\n    - {kid: 'a\"b', alg: HS256, secret: SECRET}\n", "jwt.keys[0].kid"},
		{"key alg none", "jwt:\n  keys:\n    - {kid: a, alg: none, secret: SECRET}\n", "jwt.keys[0].alg"},
		{"short key secret", "jwt:\n  keys:\n    - {kid: a, alg: HS384, secret: " + strings.Repeat("s", 47) + "}\n", "jwt.keys[0].secret"},
		{"asymmetric key with secret", "jwt:\n  keys:\n    - {kid: a, alg: EdDSA, secret: SECRET, private_key_file: " + edPEM + "}\n", "jwt.keys[0].secret"},
		{"not a PEM key", "jwt:\n  keys:\n    - {kid: a, alg: EdDSA, private_key_file: " + garbage + "}\n", "jwt.keys[0].private_key_file"},
		{"unknown signing key", "jwt:\n  signing_key: b\n  keys:\n    - {kid: a, alg: HS256, secret: SECRET}\n", "jwt.signing_key"},
		{"empty allowlist entry", jwt + "api_keys:\n  allowed: [\"\"]\n", "api_keys.allowed[0]"},
		{"short allowlist digest", jwt + "api_keys:\n  allowed: [\"sha256:abcd\"]\n", "api_keys.allowed[0]"},
		{"zero burst", jwt + "rate_limit:\n  burst: 0\n", "rate_limit.burst"},
		{"negative rate", jwt + "rate_limit:\n  sessions_per_minute: -1\n", "rate_limit.sessions_per_minute"},
		{"metrics.addr", jwt + "metrics:\n  addr: nowhere\n", "metrics.addr"},
		{"log level", jwt + "log:\n  level: loud\n", "log.level"},
		{"log format", jwt + "log:\n  format: xml\n", "log.format"},

		// The server's rules for chat.* (server.ChatConfig.Validate).
		{"allowed path with dot segment", jwt + "chat:\n  allowed_paths: [\"/v1/../admin\"]\n", "chat.allowed_paths"},
		{"relative allowed path", jwt + "chat:\n  allowed_paths: [v1]\n", "chat.allowed_paths"},
		{"allowed path with empty segment", jwt + "chat:\n  allowed_paths: [\"/v1//chat\"]\n", "chat.allowed_paths"},
		{"allowed path with percent", jwt + "chat:\n  allowed_paths: [\"/v1/%2e%2e\"]\n", "chat.allowed_paths"},
		{"upstream scheme", jwt + "chat:\n  upstream_url: ftp://127.0.0.1/\n", "chat.upstream_url"},
		{"upstream without host", jwt + "chat:\n  upstream_url: \"http:///v1\"\n", "chat.upstream_url"},
		{"upstream with credentials", jwt + "chat:\n  upstream_url: \"http://user:SECRET@127.0.0.1:1/\"\n", "chat.upstream_url"},
		{"upstream with fragment", jwt + "chat:\n  upstream_url: \"http://127.0.0.1:1/#x\"\n", "chat.upstream_url"},
		{"auth header", jwt + "chat:\n  upstream_auth_header: \"X Key\"\n", "chat.upstream_auth_header"},
		{"auth scheme", jwt + "chat:\n  upstream_auth_scheme: \"Bearer x\"\n", "chat.upstream_auth_scheme"},
		{"negative echo delay", jwt + "chat:\n  echo_delay: -1ms\n", "chat.echo_delay"},
		{"negative idle timeout", jwt + "chat:\n  idle_timeout: -1s\n", "chat.idle_timeout"},
		{"negative stream duration", jwt + "chat:\n  max_stream_duration: -1s\n", "chat.max_stream_duration"},
		{"negative connect timeout", jwt + "chat:\n  connect_timeout: -1s\n", "chat.connect_timeout"},
		{"negative chat body limit", jwt + "chat:\n  max_body_bytes: -1\n", "chat.max_body_bytes"},
		{"TRACE allowed", jwt + "chat:\n  allowed_methods: [GET, TRACE]\n", "chat.allowed_methods[1]"},
		{"unknown method", jwt + "chat:\n  allowed_methods: [get]\n", "chat.allowed_methods[0]"},

		// Building the keys (buildTokens) and reading the TLS pair.
		{"RSA key under 2048 bits", "jwt:\n  keys:\n    - {kid: a, alg: RS256, private_key_file: " + weakRSA + "}\n", "jwt.keys[0]"},
		{"X25519 key", "jwt:\n  keys:\n    - {kid: a, alg: EdDSA, private_key_file: " + x25519PEM + "}\n", "jwt.keys[0]"},
		{"key of another alg", "jwt:\n  keys:\n    - {kid: a, alg: ES256, private_key_file: " + edPEM + "}\n", "jwt.keys[0]"},
		{"TLS files missing", jwt + srv + "  tls_cert_file: " + missing + "\n  tls_key_file: " + missing + "\n", "server.tls_cert_file"},
		{"TLS key of another certificate", jwt + srv + "  tls_cert_file: " + certFile + "\n  tls_key_file: " + otherKey + "\n", "server.tls_cert_file"},
	}
}

// startRefused runs serve with load and returns its error; if it starts
// listening instead, it is stopped and listened is true.
func startRefused(t *testing.T, load func() (config.Config, error)) (err error, listened bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, load, &logs, nil, nil) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err, false
		case <-tick.C:
			if strings.Contains(logs.String(), `"msg":"listening"`) {
				cancel()
				<-done
				return nil, true
			}
		}
	}
}

// TestReloadRefusesWhatStartRefuses runs every configuration start-up refuses
// through serve's start and through a reload of a running server: both refuse,
// the reload says so in its log naming the key, and the server keeps serving on
// the configuration in force (its keys, and an allowlist the refused files lack).
func TestReloadRefusesWhatStartRefuses(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	secret := newSecret(t)
	allowed, other := "sk-allowed-0123456789", "sk-other-0123456789"
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	writeConfig := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (config.Config, error) { return config.Load(configFlags(t, cfgFile)) }
	cases := refusedConfigs(t, t.TempDir())
	for i := range cases {
		y := strings.ReplaceAll(cases[i].yaml, "SECRET", secret)
		if !strings.HasPrefix(y, "server:") && !strings.Contains(y, "\nserver:") {
			y += "server:\n  addr: 127.0.0.1:0\n"
		}
		cases[i].yaml = y
	}

	t.Run("start", func(t *testing.T) {
		for _, tt := range cases {
			writeConfig(tt.yaml)
			err, listened := startRefused(t, load)
			if listened {
				t.Errorf("%s: serve started", tt.name)
				continue
			}
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("%s: serve = %v, want a refusal naming %s", tt.name, err, tt.key)
			}
			assertNotContains(t, tt.name+": error", fmt.Sprint(err), secret)
		}
	})

	t.Run("reload", func(t *testing.T) {
		// Rate limiting off, so the many POST /sessions below are never refused
		// for their number.
		writeConfig("server:\n  addr: 127.0.0.1:0\njwt:\n  secret: " + secret + "\napi_keys:\n  allowed: [" + allowed + "]\n" +
			"rate_limit:\n  sessions_per_minute: 0\n")
		ctx, cancel := context.WithCancel(t.Context())
		var logs syncBuffer
		sig := make(chan os.Signal, 1)
		done := make(chan error, 1)
		go func() { done <- serve(ctx, load, &logs, sig, nil) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve = %v, want nil", err)
			}
		}()
		s := &testServer{addr: listenAddr(t, &logs, done, "listening"), logs: &logs, reload: sig}
		status, tok := s.session(t, allowed)
		if status != http.StatusCreated {
			t.Fatalf("POST /sessions = %d, want 201", status)
		}
		kid := kidOf(t, tok)

		for _, tt := range cases {
			writeConfig(tt.yaml)
			before := strings.Count(logs.String(), reloaded+":")
			s.reloadAndWait(t, "configuration not reloaded")
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, "configuration not reloaded") || !strings.Contains(last, tt.key) {
				t.Errorf("%s: the refusal is logged as %s, want it to name %s", tt.name, last, tt.key)
			}
			if strings.Count(logs.String(), reloaded+":") != before {
				t.Errorf("%s: the reload was applied", tt.name)
			}
			if got := s.current(t, tok); got != http.StatusOK {
				t.Errorf("%s: the token issued before = %d, want 200", tt.name, got)
			}
			if status, _ := s.session(t, other); status != http.StatusUnauthorized {
				t.Errorf("%s: POST /sessions with a key off the allowlist in force = %d, want 401", tt.name, status)
			}
		}
		if status, tok := s.session(t, allowed); status != http.StatusCreated || kidOf(t, tok) != kid {
			t.Errorf("after the refused reloads: POST /sessions = %d, want 201 signed by %s", status, kid)
		}
		assertNotContains(t, "logs", logs.String(), secret, allowed, other, tok)
	})
}
