package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
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
