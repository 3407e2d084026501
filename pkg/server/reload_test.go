package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestReload(t *testing.T) {
	ts := newTestServer(t)
	old := ts.createSession(t, "").AccessToken
	current := func(tok string) response {
		return ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok})
	}
	if res := current(old); res.status != http.StatusOK {
		t.Fatalf("before reload: %d %s", res.status, res.body)
	}

	// Rotate to an Ed25519 key only, with an allowlist that excludes the test key.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := token.NewPrivateKey("ed-2", "", priv)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.NewIssuer(ks, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := token.NewVerifier(ks, testIssuer, testAudience, token.WithCache(10))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(iss, ver, []string{"sk-someone-else"}); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	body := wantError(t, current(old), http.StatusUnauthorized, "invalid_token")
	if body.Description != "token key is unknown" {
		t.Errorf("old token after rotation: %q", body.Description)
	}
	wantError(t, ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}}}),
		http.StatusUnauthorized, "invalid_api_key")
	jwks := ts.do(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
	if !strings.Contains(jwks.body, `"kid":"ed-2"`) {
		t.Errorf("JWKS after reload = %s, want the new key", jwks.body)
	}

	// A reload that cannot work changes nothing.
	if err := ts.srv.Reload(iss, ver, []string{"sha256:not-hex"}); err == nil {
		t.Fatalf("Reload with a bad allowlist succeeded")
	}
	if err := ts.srv.Reload(nil, ver, nil); err == nil {
		t.Fatalf("Reload without an issuer succeeded")
	}
	res := ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: http.Header{"X-API-Key": {"sk-someone-else"}}})
	if res.status != http.StatusCreated {
		t.Fatalf("after refused reloads, the reloaded set should still be in force: %d %s", res.status, res.body)
	}
	tok := decodeJSON[tokenResponse](t, res.body).AccessToken
	if res := current(tok); res.status != http.StatusOK {
		t.Errorf("token from the reloaded issuer: %d %s", res.status, res.body)
	}
}
