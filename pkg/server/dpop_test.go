package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
	"github.com/jwtgate/jwtgate/pkg/server"
)

// base is the URL httptest.NewRequest addresses.
const base = "http://example.com"

// sessionProof is k's proof for POST /sessions at base.
func sessionProof(t testing.TB, k *dpoptest.Key) string {
	return k.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: base + "/sessions"})
}

// dpopRequest is a request with tok in the DPoP presentation and k's proof for it.
func dpopRequest(t testing.TB, k *dpoptest.Key, method, path, tok, body string) request {
	t.Helper()
	r := request{method: method, path: path, headers: http.Header{
		"Authorization": {"DPoP " + tok},
		"Dpop":          {k.MustProof(t, dpoptest.Claims{HTM: method, HTU: base + path, AccessToken: tok})},
	}}
	if body != "" {
		r.body, r.ctype = body, "application/json"
	}
	return r
}

// current is the body of GET /sessions/current.
type current struct {
	SessionID         string          `json:"session_id"`
	Subject           string          `json:"subject"`
	IssuedAt          string          `json:"issued_at"`
	ExpiresAt         string          `json:"expires_at"`
	APIKeyFingerprint string          `json:"api_key_fingerprint"`
	Limits            json.RawMessage `json:"limits"`
	DPoPJKT           string          `json:"dpop_jkt"`
}

// cnfOf returns the cnf claim of tok's payload, "" when it has none.
func cnfOf(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Cnf *struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Cnf == nil {
		return ""
	}
	return p.Cnf.JKT
}

// TestDPoPSessionBinding: one row per rule of binding at POST /sessions, each
// with the request that breaks it and the same request mended, which is issued a
// token bound to the right key.
func TestDPoPSessionBinding(t *testing.T) {
	key, other := dpoptest.MustES256(t), dpoptest.MustES256(t)
	type post struct {
		header http.Header
		body   string
	}
	withKey := func(h http.Header) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("X-API-Key", testAPIKey)
		return h
	}
	replayed := sessionProof(t, key)
	tests := []struct {
		name       string
		required   bool
		before     func(ts *testServer)
		bad        post
		wantStatus int
		wantCode   string
		wantLabel  string // counted in jwtgate_token_verify_failures_total; "" for none
		mended     post
		wantJKT    string // the mended request's binding; "" for an unbound token
	}{
		{name: "proof with htm GET", bad: post{header: http.Header{"Dpop": {key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: base + "/sessions"})}}},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_htm", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "proof for another path", bad: post{header: http.Header{"Dpop": {key.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: base + "/sessions/refresh"})}}},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_htu", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "proof not a JWS", bad: post{header: http.Header{"Dpop": {"proof"}}},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_malformed", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "proof replayed", before: func(ts *testServer) {
			if res := ts.do(t, request{method: "POST", path: "/sessions", headers: withKey(http.Header{"Dpop": {replayed}})}); res.status != 201 {
				t.Fatalf("first use: %d %s", res.status, res.body)
			}
		}, bad: post{header: http.Header{"Dpop": {replayed}}},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_replayed", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "two DPoP headers", bad: post{header: http.Header{"Dpop": {sessionProof(t, key), sessionProof(t, key)}}},
			wantStatus: 400, wantCode: "invalid_request", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "dpop_jkt and a proof by another key", bad: post{header: http.Header{"Dpop": {sessionProof(t, other)}}, body: `{"dpop_jkt":"` + key.JKT() + `"}`},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_binding",
			mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}, body: `{"dpop_jkt":"` + key.JKT() + `"}`}, wantJKT: key.JKT()},
		{name: "dpop_jkt too short", bad: post{body: `{"dpop_jkt":"` + key.JKT()[1:] + `"}`},
			wantStatus: 400, wantCode: "invalid_request", mended: post{body: `{"dpop_jkt":"` + key.JKT() + `"}`}, wantJKT: key.JKT()},
		{name: "dpop_jkt not base64url", bad: post{body: `{"dpop_jkt":"` + key.JKT()[1:] + `+"}`},
			wantStatus: 400, wantCode: "invalid_request", mended: post{body: `{"dpop_jkt":"` + key.JKT() + `"}`}, wantJKT: key.JKT()},
		{name: "dpop_jkt not a string", bad: post{body: `{"dpop_jkt":43}`},
			wantStatus: 400, wantCode: "invalid_request", mended: post{body: `{"dpop_jkt":"` + key.JKT() + `"}`}, wantJKT: key.JKT()},
		{name: "required: neither proof nor dpop_jkt", required: true, bad: post{},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_missing", mended: post{header: http.Header{"Dpop": {sessionProof(t, key)}}}, wantJKT: key.JKT()},
		{name: "required: dpop_jkt is enough", required: true, bad: post{body: `{"dpop_jkt":null}`},
			wantStatus: 400, wantCode: "invalid_dpop_proof", wantLabel: "dpop_missing", mended: post{body: `{"dpop_jkt":"` + other.JKT() + `"}`}, wantJKT: other.JKT()},
		{name: "not required: an unbound session", bad: post{body: `{"dpop_jkt":""}`},
			wantStatus: 400, wantCode: "invalid_request", mended: post{}, wantJKT: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *testOptions) { o.cfg.DPoP.Required = tt.required })
			if tt.before != nil {
				tt.before(ts)
			}
			send := func(p post) response {
				r := request{method: http.MethodPost, path: "/sessions", headers: withKey(p.header)}
				if p.body != "" {
					r.body, r.ctype = p.body, "application/json"
				}
				return ts.do(t, r)
			}
			before := failures(t, ts)
			res := send(tt.bad)
			wantError(t, res, tt.wantStatus, tt.wantCode)
			if res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("POST /sessions refusal has a challenge %q; the token endpoint answers 400 alone", res.header.Get("WWW-Authenticate"))
			}
			after := failures(t, ts)
			if tt.wantLabel != "" && after[tt.wantLabel] != before[tt.wantLabel]+1 {
				t.Errorf("failures{reason=%q} went from %v to %v, want one more", tt.wantLabel, before[tt.wantLabel], after[tt.wantLabel])
			}

			res = send(tt.mended)
			if res.status != http.StatusCreated {
				t.Fatalf("mended: %d %s", res.status, res.body)
			}
			tr := decodeJSON[tokenResponse](t, res.body)
			if got := cnfOf(t, tr.AccessToken); got != tt.wantJKT {
				t.Fatalf("cnf.jkt = %q, want %q", got, tt.wantJKT)
			}
			wantType := "Bearer"
			if tt.wantJKT != "" {
				wantType = "DPoP"
			}
			if tr.TokenType != wantType {
				t.Errorf("token_type = %q, want %q", tr.TokenType, wantType)
			}
		})
	}
}

// failures reads jwtgate_token_verify_failures_total by reason.
func failures(t testing.TB, ts *testServer) map[string]float64 {
	t.Helper()
	mfs, err := ts.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "jwtgate_token_verify_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestDPoPLabelsPredeclared: every DPoP refusal reason reads 0 before the first.
func TestDPoPLabelsPredeclared(t *testing.T) {
	f := failures(t, newTestServer(t))
	for _, label := range append(dpop.Labels(), "dpop_downgrade", "dpop_unbound", "dpop_missing") {
		if v, ok := f[label]; !ok || v != 0 {
			t.Errorf("failures{reason=%q} = %v (present %v), want 0", label, v, ok)
		}
	}
}

// TestDPoPSessionFlow: a bound session from start to refresh. /sessions/current
// shows the thumbprint; the chat route takes the token only with a proof by the
// key; a refresh needs such a proof and keeps the binding.
func TestDPoPSessionFlow(t *testing.T) {
	ts := newTestServer(t)
	key, other := dpoptest.MustES256(t), dpoptest.MustES256(t)
	res := ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {sessionProof(t, key)}}})
	if res.status != 201 {
		t.Fatalf("POST /sessions: %d %s", res.status, res.body)
	}
	tok := decodeJSON[tokenResponse](t, res.body).AccessToken

	res = ts.do(t, dpopRequest(t, key, "GET", "/sessions/current", tok, ""))
	if res.status != 200 {
		t.Fatalf("GET /sessions/current: %d %s", res.status, res.body)
	}
	if cur := decodeJSON[current](t, res.body); cur.DPoPJKT != key.JKT() {
		t.Fatalf("dpop_jkt = %q, want %q", cur.DPoPJKT, key.JKT())
	}
	// Unbound sessions have no dpop_jkt member at all.
	plain := ts.createSession(t, "").AccessToken
	if res := ts.do(t, request{method: "GET", path: "/sessions/current", bearer: plain}); res.status != 200 || strings.Contains(res.body, "dpop_jkt") {
		t.Fatalf("unbound /sessions/current: %d %s", res.status, res.body)
	}

	chat := `{"model":"echo","messages":[{"role":"user","content":"hi"}]}`
	if res := ts.do(t, dpopRequest(t, key, "POST", "/chat/chat/completions", tok, chat)); res.status != 200 {
		t.Fatalf("chat with a proof: %d %s", res.status, res.body)
	}
	res = ts.do(t, request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: chat, ctype: "application/json"})
	body := wantError(t, res, 401, "invalid_token")
	if body.Type != "authentication_error" {
		t.Errorf("type = %q, want authentication_error", body.Type)
	}
	if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP realm="jwtgate", error="invalid_token", `) || !strings.HasSuffix(got, `algs="ES256 EdDSA RS256"`) {
		t.Errorf("WWW-Authenticate = %q, want a DPoP invalid_token challenge", got)
	}
	// A proof refused on /chat/*: the body's code stays in the chat list, the
	// challenge names RFC 9449's error.
	res = ts.do(t, dpopRequest(t, other, "POST", "/chat/chat/completions", tok, chat))
	wantError(t, res, 401, "invalid_token")
	if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP realm="jwtgate", error="invalid_dpop_proof", error_description="DPoP proof key does not match the token's binding"`) {
		t.Errorf("WWW-Authenticate = %q, want invalid_dpop_proof", got)
	}

	// Refresh: a proof by the bound key, for the refresh URL.
	for _, bad := range []request{
		{method: "POST", path: "/sessions/refresh", bearer: tok},
		{method: "POST", path: "/sessions/refresh", headers: http.Header{"Authorization": {"DPoP " + tok}}},
		dpopRequest(t, other, "POST", "/sessions/refresh", tok, ""),
		{method: "POST", path: "/sessions/refresh", headers: http.Header{"Authorization": {"DPoP " + tok},
			"Dpop": {key.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: base + "/sessions", AccessToken: tok})}}},
	} {
		res := ts.do(t, bad)
		if res.status != 401 || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("refresh %v: %d %q %s, want 401 with a DPoP challenge", bad.headers, res.status, res.header.Get("WWW-Authenticate"), res.body)
		}
	}
	res = ts.do(t, dpopRequest(t, key, "POST", "/sessions/refresh", tok, ""))
	if res.status != 200 {
		t.Fatalf("refresh with the proof: %d %s", res.status, res.body)
	}
	refreshed := decodeJSON[tokenResponse](t, res.body)
	if refreshed.TokenType != "DPoP" || cnfOf(t, refreshed.AccessToken) != key.JKT() {
		t.Fatalf("refreshed: token_type %q, cnf.jkt %q; want DPoP bound to %q", refreshed.TokenType, cnfOf(t, refreshed.AccessToken), key.JKT())
	}
	if res := ts.do(t, dpopRequest(t, key, "GET", "/chat/models", refreshed.AccessToken, "")); res.status != 200 {
		t.Fatalf("the refreshed token with a proof: %d %s", res.status, res.body)
	}
	if res := ts.do(t, request{method: "GET", path: "/chat/models", headers: http.Header{"X-Api-Key": {refreshed.AccessToken}}}); res.status != 401 {
		t.Fatalf("the refreshed token in X-API-Key: %d, want 401", res.status)
	}
}

// TestDPoPRequiredRefresh: with dpop.required an unbound session is not renewed,
// and a bound one is.
func TestDPoPRequiredRefresh(t *testing.T) {
	key := dpoptest.MustES256(t)
	ts := newTestServer(t)
	plain := ts.createSession(t, "").AccessToken
	bound := ts.createSession(t, `{"dpop_jkt":"`+key.JKT()+`"}`).AccessToken
	cfg := testConfig()
	cfg.DPoP.Required = true
	if err := ts.srv.Reload(ts.issuer, ts.verifier, nil, server.ReloadDPoP(cfg.DPoP)); err != nil {
		t.Fatal(err)
	}
	res := ts.do(t, request{method: "POST", path: "/sessions/refresh", bearer: plain})
	wantError(t, res, 400, "invalid_dpop_proof")
	if res := ts.do(t, dpopRequest(t, key, "POST", "/sessions/refresh", bound, "")); res.status != 200 {
		t.Fatalf("bound refresh: %d %s", res.status, res.body)
	}
	if res := ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}}}); res.status != 400 {
		t.Fatalf("unbound POST /sessions after the reload: %d, want 400", res.status)
	}
}

// TestDPoPReplayAcrossReload: a proof accepted before a reload is refused after
// it, whether the reload replaces the DPoP settings or keeps them.
func TestDPoPReplayAcrossReload(t *testing.T) {
	ts := newTestServer(t)
	key := dpoptest.MustES256(t)
	tok := ts.createSession(t, `{"dpop_jkt":"`+key.JKT()+`"}`).AccessToken
	for _, opts := range [][]server.ReloadOption{nil, {server.ReloadDPoP(server.DPoPConfig{MaxAge: time.Minute, Leeway: time.Second})}} {
		r := dpopRequest(t, key, "GET", "/chat/models", tok, "")
		sp := sessionProof(t, key)
		if res := ts.do(t, r); res.status != 200 {
			t.Fatalf("first use: %d %s", res.status, res.body)
		}
		if res := ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {sp}}}); res.status != 201 {
			t.Fatalf("first use at POST /sessions: %d %s", res.status, res.body)
		}
		if err := ts.srv.Reload(ts.issuer, ts.verifier, nil, opts...); err != nil {
			t.Fatal(err)
		}
		res := ts.do(t, r)
		wantError(t, res, 401, "invalid_token")
		if !strings.Contains(res.header.Get("WWW-Authenticate"), "DPoP proof has been used before") {
			t.Errorf("replay after the reload: %q", res.header.Get("WWW-Authenticate"))
		}
		res = ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {sp}}})
		if b := wantError(t, res, 400, "invalid_dpop_proof"); b.Description != "DPoP proof has been used before" {
			t.Errorf("replay at POST /sessions after the reload: %q", b.Description)
		}
	}
}

// TestDPoPProofAfterAPIKey: a proof sent with an API key that is refused is not
// remembered, so it works with the right key afterwards: only a client with an
// accepted key fills the replay cache of POST /sessions.
func TestDPoPProofAfterAPIKey(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.AllowedAPIKeys = []string{testAPIKey} })
	key := dpoptest.MustES256(t)
	p := sessionProof(t, key)
	res := ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {otherAPIKey}, "Dpop": {p}}})
	wantError(t, res, 401, "invalid_api_key")
	res = ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {p}}})
	if res.status != 201 {
		t.Fatalf("the same proof with the accepted key: %d %s", res.status, res.body)
	}
}

// TestDPoPNonces: with nonces required, POST /sessions answers 400
// use_dpop_nonce and a protected route 401 use_dpop_nonce, both with the
// DPoP-Nonce header; the retry with it passes, and once the window has turned a
// successful answer carries the next nonce.
func TestDPoPNonces(t *testing.T) {
	const window = time.Minute
	ns, err := dpop.NewNonceSource([]byte("a nonce secret of at least 32 bytes, for tests"), window)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(window)
	now := start
	ts := newTestServer(t, func(o *testOptions) {
		o.cfg.DPoP = server.DPoPConfig{Nonces: ns, MaxAge: time.Hour, Now: func() time.Time { return now }}
	})
	key := dpoptest.MustES256(t)
	create := func(nonce string) response {
		p := key.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: base + "/sessions", Nonce: nonce, IAT: now})
		return ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {p}}})
	}
	res := create("")
	wantError(t, res, 400, "use_dpop_nonce")
	nonce := res.header.Get("DPoP-Nonce")
	if nonce != ns.Nonce(now) || len(res.header.Values("DPoP-Nonce")) != 1 {
		t.Fatalf("DPoP-Nonce = %q, want one, the current nonce", res.header.Values("DPoP-Nonce"))
	}
	res = create(nonce)
	if res.status != 201 || res.header.Get("DPoP-Nonce") != "" {
		t.Fatalf("with the nonce: %d %s, DPoP-Nonce %q", res.status, res.body, res.header.Get("DPoP-Nonce"))
	}
	tok := decodeJSON[tokenResponse](t, res.body).AccessToken

	chat := func(nonce string) response {
		p := key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: base + "/chat/models", AccessToken: tok, Nonce: nonce, IAT: now})
		return ts.do(t, request{method: "GET", path: "/chat/models", headers: http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {p}}})
	}
	res = chat("")
	wantError(t, res, 401, "invalid_token") // the chat list's code
	if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), `DPoP realm="jwtgate", error="use_dpop_nonce"`) || res.header.Get("DPoP-Nonce") != nonce {
		t.Fatalf("chat without a nonce: %q, DPoP-Nonce %q", res.header.Get("WWW-Authenticate"), res.header.Get("DPoP-Nonce"))
	}
	if res := chat(nonce); res.status != 200 || res.header.Get("DPoP-Nonce") != "" {
		t.Fatalf("chat with the nonce: %d, DPoP-Nonce %q", res.status, res.header.Get("DPoP-Nonce"))
	}
	now = start.Add(window)
	res = chat(nonce)
	if res.status != 200 || res.header.Get("DPoP-Nonce") != ns.Nonce(now) || ns.Nonce(now) == nonce {
		t.Fatalf("chat in the next window: %d, DPoP-Nonce %q, want the next nonce %q", res.status, res.header.Get("DPoP-Nonce"), ns.Nonce(now))
	}
	res = create(nonce)
	if res.status != 201 || res.header.Get("DPoP-Nonce") != ns.Nonce(now) {
		t.Fatalf("POST /sessions in the next window: %d, DPoP-Nonce %q", res.status, res.header.Get("DPoP-Nonce"))
	}
}

// TestDPoPBehindProxy: X-Forwarded-Proto and X-Forwarded-Host name the URL a
// proof's htu must match only when the peer is a trusted proxy.
func TestDPoPBehindProxy(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.TrustedProxies = []string{"10.0.0.0/8", "fd00::1"} })
	key := dpoptest.MustES256(t)
	public := func() string {
		return key.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: "https://gw.example/sessions"})
	}
	forwarded := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"gw.example, inner.example"}}
	tests := []struct {
		name   string
		remote string
		header http.Header
		proof  func() string
		want   int
	}{
		{"trusted proxy, public URL", "10.1.2.3:5555", forwarded, public, 201},
		{"trusted IPv6 proxy, public URL", "[fd00::1]:5555", forwarded, public, 201},
		{"trusted proxy, the URL the server saw", "10.1.2.3:5555", forwarded, func() string { return sessionProof(t, key) }, 400},
		{"untrusted peer, public URL", "192.0.2.1:5555", forwarded, public, 400},
		{"untrusted peer, the URL the server saw", "192.0.2.1:5555", forwarded, func() string { return sessionProof(t, key) }, 201},
		{"trusted proxy, no forwarding headers", "10.1.2.3:5555", nil, func() string { return sessionProof(t, key) }, 201},
		{"trusted proxy, odd proto ignored", "10.1.2.3:5555", http.Header{"X-Forwarded-Proto": {"gopher"}}, func() string { return sessionProof(t, key) }, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("X-API-Key", testAPIKey)
			h.Set("Dpop", tt.proof())
			res := ts.do(t, request{method: "POST", path: "/sessions", headers: h, remote: tt.remote})
			if res.status != tt.want {
				t.Fatalf("status %d (%s), want %d", res.status, res.body, tt.want)
			}
		})
	}
}

// TestDPoPProxied: through the reverse proxy the DPoP proof never reaches the
// upstream, the upstream's DPoP-Nonce never reaches the client, and a WebSocket
// with its proof in a subprotocol entry opens with neither entry forwarded.
func TestDPoPProxied(t *testing.T) {
	seen := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("DPoP-Nonce", "upstream-nonce")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	upURL, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *testOptions) { o.cfg.Chat.UpstreamURL = upURL })
	key := dpoptest.MustES256(t)
	tok := ts.createSession(t, `{"dpop_jkt":"`+key.JKT()+`"}`).AccessToken
	r := dpopRequest(t, key, "GET", "/chat/models", tok, "")
	res := ts.do(t, r)
	if res.status != 200 {
		t.Fatalf("proxied: %d %s", res.status, res.body)
	}
	got := <-seen
	if got.Get("Dpop") != "" || headerHolds(got, r.headers.Get("Dpop")) || headerHolds(got, tok) {
		t.Errorf("the upstream received the proof or the token: %v", got)
	}
	if v := res.header.Values("DPoP-Nonce"); len(v) != 0 {
		t.Errorf("the client got the upstream's DPoP-Nonce %q", v)
	}

	ws := newWSUpstream(t)
	wts := newTestServer(t, func(o *testOptions) { o.cfg.Chat.UpstreamURL = ws.url })
	front := httptest.NewServer(wts.srv)
	t.Cleanup(front.Close)
	wtok := wts.createSession(t, `{"dpop_jkt":"`+key.JKT()+`"}`).AccessToken
	// A browser names the URL it opens: ws://host/path.
	proof := key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: wsURL(front, "/chat/realtime"), AccessToken: wtok})
	ctx, cancel := context.WithTimeout(t.Context(), wsGuard)
	defer cancel()
	for _, refused := range [][]string{
		{"realtime", "jwtgate.bearer." + wtok},
		{"realtime", "jwtgate.bearer." + wtok, "jwtgate.dpop." + key.MustProof(t, dpoptest.Claims{HTM: "POST", HTU: wsURL(front, "/chat/realtime"), AccessToken: wtok})},
	} {
		c, resp, err := websocket.Dial(ctx, wsURL(front, "/chat/realtime"), &websocket.DialOptions{Subprotocols: refused})
		if err == nil {
			c.CloseNow()
			t.Fatalf("%v: dial succeeded, want 401", refused)
		}
		if resp == nil || resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "DPoP ") {
			t.Fatalf("%v: %v %v, want 401 with a DPoP challenge", refused, resp, err)
		}
	}
	c, resp, err := websocket.Dial(ctx, wsURL(front, "/chat/realtime"), &websocket.DialOptions{
		Subprotocols: []string{"realtime", "jwtgate.bearer." + wtok, "jwtgate.dpop." + proof},
	})
	if err != nil {
		t.Fatalf("dial with the proof: %v (%v)", err, resp)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "realtime" {
		t.Errorf("subprotocol %q, want realtime", c.Subprotocol())
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello from upstream" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	h := ws.received(t)
	if headerHolds(h, "jwtgate.") || headerHolds(h, proof) || headerHolds(h, wtok) {
		t.Errorf("the upstream handshake carries jwtgate's entries: %v", h["Sec-Websocket-Protocol"])
	}
}

// TestDPoPLogsHoldNoSecrets: after bound sessions, accepted and refused proofs,
// the logs hold no proof, token or key.
func TestDPoPLogsHoldNoSecrets(t *testing.T) {
	ts := newTestServer(t)
	key, other := dpoptest.MustES256(t), dpoptest.MustES256(t)
	sp := sessionProof(t, key)
	res := ts.do(t, request{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {sp}}})
	tok := decodeJSON[tokenResponse](t, res.body).AccessToken
	secrets := []string{sp, tok, testAPIKey}
	for _, r := range []request{
		{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}, "Dpop": {sp}}}, // replayed
		dpopRequest(t, key, "GET", "/chat/models", tok, ""),
		dpopRequest(t, other, "GET", "/chat/models", tok, ""),
		dpopRequest(t, key, "GET", "/sessions/current", tok, ""),
		{method: "GET", path: "/sessions/current", bearer: tok},
		{method: "GET", path: "/chat/models", headers: http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {"x." + tok + ".y"}}},
	} {
		ts.do(t, r)
		secrets = append(secrets, r.headers.Values("Dpop")...)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, `"auth_failure":"dpop_binding"`) || !strings.Contains(logs, `"auth_failure":"dpop_replayed"`) {
		t.Errorf("the access lines do not name the refusals:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold a secret of %d bytes", len(s))
		}
	}
	// The thumbprint is public (it is in /sessions/current): logging it is no leak,
	// but the private key's parts never are anywhere to log.
}
