package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestCreateSession(t *testing.T) {
	key := func(k string) http.Header { return http.Header{"X-API-Key": {k}} }
	tests := []struct {
		name    string
		req     request
		wantTTL int64 // expected expires_in on success
	}{
		{"header only, no body", request{headers: key(testAPIKey)}, 900},
		{"body only", request{body: `{"api_key":"` + testAPIKey + `"}`, ctype: "application/json"}, 900},
		{"header and equal body", request{headers: key(testAPIKey), body: `{"api_key":"` + testAPIKey + `"}`, ctype: "application/json"}, 900},
		{"charset parameter", request{headers: key(testAPIKey), body: `{}`, ctype: "application/json; charset=UTF-8"}, 900},
		{"subject and ttl", request{headers: key(testAPIKey), body: `{"subject":"alice","ttl":120}`, ctype: "application/json"}, 120},
		{"ttl capped at max ttl", request{headers: key(testAPIKey), body: `{"ttl":86400}`, ctype: "application/json"}, 3600},
		{"null members are absent", request{headers: key(testAPIKey), body: `{"api_key":null,"subject":null,"ttl":null}`, ctype: "application/json"}, 900},
		{"chunked body", request{body: `{"api_key":"` + testAPIKey + `"}`, ctype: "application/json", chunked: true}, 900},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			tt.req.method, tt.req.path = http.MethodPost, "/sessions"
			res := ts.do(t, tt.req)
			if res.status != http.StatusCreated {
				t.Fatalf("status = %d, want 201 (body %s)", res.status, res.body)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			got := decodeJSON[tokenResponse](t, res.body)
			if got.TokenType != "Bearer" || got.ExpiresIn != tt.wantTTL {
				t.Errorf("token_type %q expires_in %d, want Bearer and %d", got.TokenType, got.ExpiresIn, tt.wantTTL)
			}
			claims, err := ts.verifier.Verify(t.Context(), got.AccessToken)
			if err != nil {
				t.Fatalf("issued token does not verify: %v", err)
			}
			if claims.APIKey != testAPIKey {
				t.Error("issued token carries another API key")
			}
			exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
			if err != nil || !exp.Equal(claims.ExpiresAt) || !strings.HasSuffix(got.ExpiresAt, "Z") {
				t.Errorf("expires_at = %q, want %s in UTC (%v)", got.ExpiresAt, claims.ExpiresAt.UTC().Format(time.RFC3339), err)
			}
			if strings.Contains(res.body, testAPIKey) {
				t.Error("response body carries the API key")
			}
		})
	}
}

func TestCreateSessionSubject(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, `{"subject":"alice"}`)
	claims, err := ts.verifier.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" {
		t.Errorf("subject = %q, want alice", claims.Subject)
	}
	tok = ts.createSession(t, "")
	if claims, _ = ts.verifier.Verify(t.Context(), tok.AccessToken); claims.Subject != "apikey:"+ts.issuer.Fingerprint(testAPIKey) {
		t.Errorf("default subject = %q", claims.Subject)
	}
}

func TestCreateSessionRefused(t *testing.T) {
	const json = "application/json"
	key := http.Header{"X-API-Key": {testAPIKey}}
	withKey := func(body string) request { return request{headers: key, body: body, ctype: json} }
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
	}{
		{"no key at all", request{}, 400, "invalid_request"},
		{"empty object", request{body: `{}`, ctype: json}, 400, "invalid_request"},
		{"empty key member", request{body: `{"api_key":""}`, ctype: json}, 400, "invalid_request"},
		{"header and body differ", request{headers: key, body: `{"api_key":"` + otherAPIKey + `"}`, ctype: json}, 400, "invalid_request"},
		{"two key headers", request{headers: http.Header{"X-API-Key": {testAPIKey, testAPIKey}}}, 400, "invalid_request"},
		{"malformed JSON", withKey(`{"ttl":`), 400, "invalid_request"},
		{"not JSON", withKey(`ttl=5`), 400, "invalid_request"},
		{"trailing data", withKey(`{"ttl":60} {}`), 400, "invalid_request"},
		{"trailing garbage", withKey(`{"ttl":60}x`), 400, "invalid_request"},
		{"unknown member", withKey(`{"ttl":60,"admin":true}`), 400, "invalid_request"},
		{"member name case", withKey(`{"TTL":60}`), 400, "invalid_request"},
		{"duplicate member", withKey(`{"ttl":60,"ttl":61}`), 400, "invalid_request"},
		{"array body", withKey(`[]`), 400, "invalid_request"},
		{"null body", withKey(`null`), 400, "invalid_request"},
		{"key of wrong type", request{body: `{"api_key":42}`, ctype: json}, 400, "invalid_request"},
		{"subject of wrong type", withKey(`{"subject":["a"]}`), 400, "invalid_request"},
		{"ttl as string", withKey(`{"ttl":"60"}`), 400, "invalid_request"},
		{"ttl fractional", withKey(`{"ttl":1.5}`), 400, "invalid_request"},
		{"ttl exponent", withKey(`{"ttl":1e3}`), 400, "invalid_request"},
		{"ttl zero", withKey(`{"ttl":0}`), 400, "invalid_request"},
		{"ttl negative", withKey(`{"ttl":-60}`), 400, "invalid_request"},
		{"ttl over a year", withKey(`{"ttl":31536001}`), 400, "invalid_request"},
		{"ttl overflows", withKey(`{"ttl":99999999999999999999999}`), 400, "invalid_request"},
		{"invalid UTF-8", withKey("{\"subject\":\"\xff\"}"), 400, "invalid_request"},
		{"subject too long", withKey(`{"subject":"` + strings.Repeat("s", token.MaxSubjectLen+1) + `"}`), 400, "invalid_request"},
		{"subject with control character", withKey(`{"subject":"a\u0007b"}`), 400, "invalid_request"},
		{"text/plain", request{headers: key, body: `{}`, ctype: "text/plain"}, 415, "unsupported_media_type"},
		{"no content type", request{headers: key, body: `{}`}, 415, "unsupported_media_type"},
		{"json suffix type", request{headers: key, body: `{}`, ctype: "application/problem+json"}, 415, "unsupported_media_type"},
		{"other charset", request{headers: key, body: `{}`, ctype: "application/json; charset=latin1"}, 415, "unsupported_media_type"},
		{"bad media type", request{headers: key, body: `{}`, ctype: "application/json; ="}, 415, "unsupported_media_type"},
		{"too large", withKey(`{"subject":"` + strings.Repeat("a", 2000) + `"}`), 413, "request_too_large"},
		{"too large chunked", request{headers: key, body: `{"subject":"` + strings.Repeat("a", 2000) + `"}`, ctype: json, chunked: true}, 413, "request_too_large"},
		{"key with space", request{headers: http.Header{"X-API-Key": {"sk bad"}}}, 401, "invalid_api_key"},
		{"key too long", request{headers: http.Header{"X-API-Key": {strings.Repeat("k", token.MaxAPIKeyLen+1)}}}, 401, "invalid_api_key"},
		{"key not ASCII", request{body: `{"api_key":"sk-clé"}`, ctype: json}, 401, "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			tt.req.method, tt.req.path = http.MethodPost, "/sessions"
			res := ts.do(t, tt.req)
			body := wantError(t, res, tt.wantStatus, tt.wantCode)
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			for _, secret := range []string{testAPIKey, otherAPIKey} {
				if strings.Contains(res.body, secret) {
					t.Errorf("response %q carries an API key", body.Description)
				}
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	digest := sha256.Sum256([]byte(otherAPIKey))
	tests := []struct {
		name    string
		allowed []string
		key     string
		want    int
	}{
		{"empty list allows any key", nil, testAPIKey, 201},
		{"plain entry", []string{"sk-someone-else", testAPIKey}, testAPIKey, 201},
		{"digest entry", []string{"sha256:" + hex.EncodeToString(digest[:])}, otherAPIKey, 201},
		{"digest entry upper case", []string{"sha256:" + strings.ToUpper(hex.EncodeToString(digest[:]))}, otherAPIKey, 201},
		{"not listed", []string{testAPIKey}, otherAPIKey, 401},
		{"digest of another key", []string{"sha256:" + hex.EncodeToString(digest[:])}, testAPIKey, 401},
		{"digest text is not a key", []string{"sha256:" + hex.EncodeToString(digest[:])}, "sha256:" + hex.EncodeToString(digest[:]), 401},
		{"prefix of a listed key", []string{testAPIKey}, testAPIKey[:10], 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *testOptions) { o.cfg.AllowedAPIKeys = tt.allowed })
			res := ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: http.Header{"X-API-Key": {tt.key}}})
			if tt.want == http.StatusCreated {
				if res.status != tt.want {
					t.Fatalf("status = %d, want 201 (body %s)", res.status, res.body)
				}
				return
			}
			wantError(t, res, http.StatusUnauthorized, "invalid_api_key")
			if strings.Contains(res.body, tt.key) {
				t.Error("refusal echoes the key")
			}
		})
	}
}

func TestAllowlistInvalid(t *testing.T) {
	const secretish = "sha256:not-hex-but-maybe-a-secret"
	ts := newTestServer(t)
	for _, entries := range [][]string{{secretish}, {"sha256:abcd"}, {testAPIKey, ""}} {
		cfg := testConfig()
		cfg.AllowedAPIKeys = entries
		_, err := server.New(cfg, server.Deps{Issuer: ts.issuer, Verifier: ts.verifier})
		if err == nil {
			t.Errorf("New accepted allowlist %q", entries)
			continue
		}
		if strings.Contains(err.Error(), secretish[7:]) || strings.Contains(err.Error(), testAPIKey) {
			t.Errorf("error %q quotes an entry", err)
		}
	}
}

type sessionResponse struct {
	SessionID         string          `json:"session_id"`
	Subject           string          `json:"subject"`
	IssuedAt          string          `json:"issued_at"`
	ExpiresAt         string          `json:"expires_at"`
	APIKeyFingerprint string          `json:"api_key_fingerprint"`
	Limits            json.RawMessage `json:"limits"`
}

func TestCurrentSession(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, `{"subject":"alice","ttl":600}`)
	claims, err := ts.verifier.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	res := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok.AccessToken})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", res.status, res.body)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	got := decodeJSON[sessionResponse](t, res.body)
	want := sessionResponse{
		SessionID:         claims.SessionID,
		Subject:           "alice",
		IssuedAt:          claims.IssuedAt.UTC().Format(time.RFC3339),
		ExpiresAt:         claims.ExpiresAt.UTC().Format(time.RFC3339),
		APIKeyFingerprint: ts.issuer.Fingerprint(testAPIKey),
		Limits:            json.RawMessage(`{}`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
	if strings.Contains(res.body, testAPIKey) {
		t.Error("body carries the API key")
	}

	res = ts.do(t, request{method: http.MethodGet, path: "/sessions/current"})
	wantError(t, res, http.StatusUnauthorized, "unauthorized")
	if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="jwtgate"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

func TestRefreshSession(t *testing.T) {
	ts := newTestServer(t)
	first := ts.createSession(t, `{"subject":"alice"}`)
	before, err := ts.verifier.Verify(t.Context(), first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	ts.clock.advance(5 * time.Minute)

	tests := []struct {
		name    string
		body    string
		wantTTL int64
	}{
		{"no body", "", 900},
		{"ttl", `{"ttl":300}`, 300},
		{"ttl capped", `{"ttl":7200}`, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request{method: http.MethodPost, path: "/sessions/refresh", bearer: first.AccessToken}
			if tt.body != "" {
				r.body, r.ctype = tt.body, "application/json"
			}
			res := ts.do(t, r)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", res.status, res.body)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			got := decodeJSON[tokenResponse](t, res.body)
			if got.TokenType != "Bearer" || got.ExpiresIn != tt.wantTTL {
				t.Errorf("token_type %q expires_in %d, want Bearer and %d", got.TokenType, got.ExpiresIn, tt.wantTTL)
			}
			after, err := ts.verifier.Verify(t.Context(), got.AccessToken)
			if err != nil {
				t.Fatalf("refreshed token does not verify: %v", err)
			}
			if after.SessionID != before.SessionID || after.ID == before.ID || after.Subject != "alice" || after.APIKey != testAPIKey {
				t.Errorf("refreshed claims %v do not continue session %v", after, before)
			}
			if !after.IssuedAt.After(before.IssuedAt) {
				t.Errorf("refreshed token issued at %v, not after %v", after.IssuedAt, before.IssuedAt)
			}
		})
	}
}

func TestRefreshSessionRefused(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
	}{
		{"no token", request{}, 401, "unauthorized"},
		{"unknown member", request{bearer: tok, body: `{"api_key":"x"}`, ctype: "application/json"}, 400, "invalid_request"},
		{"ttl zero", request{bearer: tok, body: `{"ttl":0}`, ctype: "application/json"}, 400, "invalid_request"},
		{"ttl string", request{bearer: tok, body: `{"ttl":"1"}`, ctype: "application/json"}, 400, "invalid_request"},
		{"not JSON", request{bearer: tok, body: `ttl=1`, ctype: "application/json"}, 400, "invalid_request"},
		{"text/plain", request{bearer: tok, body: `{}`, ctype: "text/plain"}, 415, "unsupported_media_type"},
		{"too large", request{bearer: tok, body: `{"ttl":1` + strings.Repeat(" ", 2000) + `}`, ctype: "application/json"}, 413, "request_too_large"},
		{"bad token", request{bearer: tok + "x"}, 401, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.method, tt.req.path = http.MethodPost, "/sessions/refresh"
			res := ts.do(t, tt.req)
			wantError(t, res, tt.wantStatus, tt.wantCode)
			if strings.Contains(res.body, tok) {
				t.Error("refusal echoes the token")
			}
		})
	}
}

func TestRefreshSessionTooOld(t *testing.T) {
	// Tokens live as long as a session may: at the session's end the token is
	// still within the verifier's leeway, but the session may not be refreshed.
	ts := newTestServer(t, func(o *testOptions) {
		o.issuerOpts = []token.IssuerOption{token.WithTTL(time.Hour), token.WithMaxTTL(time.Hour), token.WithMaxSessionAge(time.Hour)}
	})
	tok := ts.createSession(t, "").AccessToken
	ts.clock.advance(time.Hour + 10*time.Second)

	if _, err := ts.verifier.Verify(t.Context(), tok); err != nil {
		t.Fatalf("test setup: token no longer verifies: %v", err)
	}
	res := ts.do(t, request{method: http.MethodPost, path: "/sessions/refresh", bearer: tok})
	body := wantError(t, res, http.StatusUnauthorized, "invalid_token")
	if body.Description != "session is too old to refresh" {
		t.Errorf("description = %q", body.Description)
	}
	want := `Bearer realm="jwtgate", error="invalid_token", error_description="session is too old to refresh"`
	if got := res.header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

func TestRefreshChecksAllowlist(t *testing.T) {
	// A token from a replica whose allowlist still had the key.
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	strict := newTestServer(t, func(o *testOptions) {
		o.keys = ts.keys
		o.cfg.AllowedAPIKeys = []string{otherAPIKey}
	})
	res := strict.do(t, request{method: http.MethodPost, path: "/sessions/refresh", bearer: tok})
	wantError(t, res, http.StatusUnauthorized, "invalid_api_key")
	if res := strict.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok}); res.status != http.StatusOK {
		t.Errorf("GET /sessions/current = %d: the token itself stays valid", res.status)
	}
}
