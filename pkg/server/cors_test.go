package server_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
	"github.com/jwtgate/jwtgate/pkg/server"
)

const (
	webApp  = "https://app.example"
	webview = "vscode-webview://0a1b2c3d4e5f"
)

// testCORS is a policy like the one the README shows: a VS Code webview, a web
// app, a dev server and a wildcard, with one extra header and a prefix.
func testCORS() server.CORSConfig {
	return server.CORSConfig{
		AllowedOrigins: []string{"vscode-webview://*", webApp, "http://127.0.0.1:5173", "https://*.preview.example"},
		AllowedHeaders: []string{"X-Trace-Id", "x-myco-*"},
		MaxAge:         10 * time.Minute,
	}
}

// countingUpstream is a chat backend that counts its calls and answers with
// CORS headers of its own, which jwtgate must replace.
type countingUpstream struct {
	calls atomic.Int64
	url   *url.URL
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	t.Helper()
	u := &countingUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "X-Upstream-Secret")
		h.Set("access-control-allow-methods", "TRACE")
		h.Set("X-Ratelimit-Remaining-Requests", "41")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	var err error
	if u.url, err = url.Parse(srv.URL); err != nil {
		t.Fatal(err)
	}
	return u
}

// newCORSTestServer is a server with cors and, when up is not nil, the chat
// proxy to up.
func newCORSTestServer(t *testing.T, cors server.CORSConfig, up *countingUpstream) *testServer {
	t.Helper()
	return newTestServer(t, func(o *testOptions) {
		o.cfg.CORS = cors
		if up != nil {
			o.cfg.Chat.UpstreamURL = up.url
		}
	})
}

// preflight is what a browser sends before a cross-origin request that is not
// "simple": OPTIONS with Origin, the method and the headers it wants to use.
func preflight(path, origin, method, headers string) request {
	h := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	return request{method: http.MethodOptions, path: path, headers: h}
}

// corsHeaders returns the response's Access-Control-* header names.
func corsHeaders(h http.Header) []string {
	var out []string
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// listHas reports whether the comma-separated header values hold name, ignoring case.
func listHas(values []string, name string) bool {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), name) {
				return true
			}
		}
	}
	return false
}

// sdkHeaders is what the OpenAI and Anthropic browser SDKs ask a preflight for
// (lower case, sorted, as browsers send them), plus jwtgate's own credentials.
const sdkHeaders = "accept,anthropic-beta,anthropic-dangerous-direct-browser-access,anthropic-version,authorization," +
	"content-type,dpop,idempotency-key,openai-organization,openai-project,user-agent,x-api-key,x-request-id," +
	"x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count," +
	"x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"

func wantAllowedPreflight(t *testing.T, res response, origin string, requested ...string) {
	t.Helper()
	if res.status != http.StatusNoContent {
		t.Fatalf("preflight status = %d, want 204 (body %s)", res.status, res.body)
	}
	if got := res.header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("Access-Control-Allow-Origin = %q, want exactly %q echoed", got, origin)
	}
	if !listHas(res.header.Values("Vary"), "Origin") {
		t.Errorf("Vary = %q, want Origin", res.header.Values("Vary"))
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if !listHas(res.header.Values("Access-Control-Allow-Methods"), m) {
			t.Errorf("Access-Control-Allow-Methods = %q, want %s", res.header.Values("Access-Control-Allow-Methods"), m)
		}
	}
	allow := res.header.Values("Access-Control-Allow-Headers")
	for _, h := range append([]string{"Authorization", "Content-Type", "X-API-Key", "DPoP"}, requested...) {
		if !listHas(allow, h) {
			t.Errorf("Access-Control-Allow-Headers = %q, want %s", allow, h)
		}
	}
	if slices.Contains(allow, "*") || listHas(allow, "*") {
		t.Errorf("Access-Control-Allow-Headers = %q, want names, never *", allow)
	}
	if got := res.header.Get("Access-Control-Max-Age"); got != "600" {
		t.Errorf("Access-Control-Max-Age = %q, want 600 (cors.max_age 10m)", got)
	}
	if _, ok := res.header["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("Access-Control-Allow-Credentials sent: %q", res.header.Values("Access-Control-Allow-Credentials"))
	}
	if res.body != "" {
		t.Errorf("preflight body = %q, want none", res.body)
	}
}

// TestCORSPreflightAnyRoute sends preflights to every kind of route: open,
// protected, proxied, POST-only and unknown. jwtgate answers each itself, with
// no token, and none reaches the upstream.
func TestCORSPreflightAnyRoute(t *testing.T) {
	up := newCountingUpstream(t)
	ts := newCORSTestServer(t, testCORS(), up)
	tok := ts.createSession(t, "").AccessToken
	requested := strings.Split(sdkHeaders, ",")
	for _, tt := range []struct {
		path, method string
		bearer       string
	}{
		{path: "/sessions", method: "POST"}, // POST-only: OPTIONS would be 405
		{path: "/sessions/current", method: "GET"},
		{path: "/sessions/refresh", method: "POST"},
		{path: "/chat/completions", method: "POST"},
		{path: "/chat/chat/completions", method: "POST"},
		{path: "/chat/v1/messages", method: "POST"},
		{path: "/chat/responses/resp_1", method: "DELETE"},
		{path: "/chat/chat/completions", method: "POST", bearer: tok}, // a token changes nothing
		{path: "/healthz", method: "GET"},
		{path: "/no/such/route", method: "PUT"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := preflight(tt.path, webApp, tt.method, sdkHeaders)
			req.bearer = tt.bearer
			res := ts.do(t, req)
			wantAllowedPreflight(t, res, webApp, requested...)
		})
	}
	if n := up.calls.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests, want none: a preflight is never forwarded", n)
	}
}

func TestCORSPreflightHeaders(t *testing.T) {
	ts := newCORSTestServer(t, testCORS(), nil)
	for _, tt := range []struct {
		name      string
		requested string
		want      []string
	}{
		{name: "none requested", want: []string{"Authorization", "X-API-Key", "anthropic-version", "X-Trace-Id"}},
		{name: "x-stainless names by prefix", requested: "x-stainless-os,x-stainless-some-future-header",
			want: []string{"x-stainless-os", "x-stainless-some-future-header"}},
		{name: "configured name", requested: "x-trace-id", want: []string{"X-Trace-Id"}},
		{name: "configured prefix", requested: "x-myco-tenant", want: []string{"x-myco-tenant"}},
		{name: "openai prefix", requested: "openai-beta", want: []string{"openai-beta"}},
		{name: "upper case and spaces", requested: " Authorization , X-Stainless-OS ", want: []string{"authorization", "x-stainless-os"}},
		{name: "repeated", requested: "x-stainless-os,x-stainless-os", want: []string{"x-stainless-os"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, preflight("/chat/chat/completions", webview, "POST", tt.requested))
			wantAllowedPreflight(t, res, webview, tt.want...)
			if tt.name == "repeated" {
				if got := res.header.Get("Access-Control-Allow-Headers"); strings.Count(got, "x-stainless-os") != 1 {
					t.Errorf("Access-Control-Allow-Headers = %q, want x-stainless-os once", got)
				}
			}
		})
	}
}

// TestCORSPreflightRefused: a preflight jwtgate does not allow is answered 403
// by jwtgate, with no CORS header, never by a handler and never upstream.
func TestCORSPreflightRefused(t *testing.T) {
	up := newCountingUpstream(t)
	ts := newCORSTestServer(t, testCORS(), up)
	tok := ts.createSession(t, "").AccessToken
	many := strings.TrimSuffix(strings.Repeat("x-stainless-a,", 65), ",")
	for _, tt := range []struct {
		name string
		req  request
		desc string // part of error_description
	}{
		{name: "origin not allowed", req: preflight("/chat/chat/completions", "https://evil.example", "POST", "authorization"), desc: "origin is not allowed"},
		{name: "null origin", req: preflight("/sessions", "null", "POST", "content-type"), desc: "origin is not allowed"},
		{name: "origin in upper case", req: preflight("/sessions", "HTTPS://APP.EXAMPLE", "POST", ""), desc: "origin is not allowed"},
		{name: "origin with a path", req: preflight("/sessions", webApp+"/", "POST", ""), desc: "origin is not allowed"},
		{name: "wildcard apex", req: preflight("/sessions", "https://preview.example", "POST", ""), desc: "origin is not allowed"},
		{name: "empty origin", req: preflight("/sessions", "", "POST", ""), desc: "origin is not allowed"},
		{name: "method not allowed", req: preflight("/chat/x", webApp, "TRACE", ""), desc: "method is not allowed"},
		{name: "method in lower case", req: preflight("/chat/x", webApp, "patch", ""), desc: "method is not allowed"},
		{name: "header not allowed", req: preflight("/chat/x", webApp, "POST", "authorization,x-other"), desc: `request header "x-other" is not allowed`},
		{name: "cookie", req: preflight("/chat/x", webApp, "POST", "cookie"), desc: `request header "cookie" is not allowed`},
		{name: "too many headers", req: preflight("/chat/x", webApp, "POST", many), desc: "more than 64 request headers"},
		{name: "with a valid token", req: func() request {
			r := preflight("/chat/chat/completions", "https://evil.example", "POST", "authorization")
			r.bearer = tok
			return r
		}(), desc: "origin is not allowed"},
		{name: "no Origin header", req: func() request {
			r := preflight("/chat/chat/completions", webApp, "POST", "")
			r.headers.Del("Origin")
			r.bearer = tok
			return r
		}(), desc: "origin is not allowed"},
		{name: "two origins", req: func() request {
			r := preflight("/chat/chat/completions", webApp, "POST", "")
			r.headers.Add("Origin", "https://evil.example")
			return r
		}(), desc: "origin is not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, tt.req)
			body := wantError(t, res, http.StatusForbidden, "invalid_request")
			if !strings.Contains(body.Description, tt.desc) {
				t.Errorf("error_description = %q, want it to say %q", body.Description, tt.desc)
			}
			// The body speaks the route's dialect: OpenAI's on /chat/*.
			if chat := strings.HasPrefix(tt.req.path, "/chat/"); chat != (body.Type == "permission_error") {
				t.Errorf("error type = %q on %s, want permission_error exactly on /chat/*", body.Type, tt.req.path)
			}
			if got := corsHeaders(res.header); len(got) != 0 {
				t.Errorf("refused preflight carries CORS headers %v, want none", got)
			}
			if !listHas(res.header.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin", res.header.Values("Vary"))
			}
		})
	}
	if n := up.calls.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests, want none", n)
	}
}

// TestCORSOriginRules checks each kind of cors.allowed_origins entry on an
// actual response and on a preflight: allowed origins are echoed, others get
// no CORS header at all.
func TestCORSOriginRules(t *testing.T) {
	ts := newCORSTestServer(t, testCORS(), nil)
	for _, tt := range []struct {
		origin string
		want   bool
	}{
		{webApp, true},                   // exact
		{"http://127.0.0.1:5173", true},  // exact with port
		{"http://127.0.0.1:5174", false}, // another port
		{"http://app.example", false},    // another scheme
		{"https://app.example.evil", false},
		{"https://a.preview.example", true},   // host wildcard, one label
		{"https://a.b.preview.example", true}, // and more
		{"https://preview.example", false},    // never the apex
		{"http://a.preview.example", false},   // the scheme counts
		{webview, true},                       // scheme wildcard
		{"vscode-webview://another-id", true},
		{"vscode-file://vscode-app", false}, // not configured
		{"null", false},
		{"HTTPS://APP.EXAMPLE", false}, // case: browsers send lower case
		{"https://App.example", false},
	} {
		t.Run(tt.origin, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodGet, path: "/healthz", headers: http.Header{"Origin": {tt.origin}}})
			if res.status != http.StatusOK {
				t.Fatalf("GET /healthz = %d", res.status)
			}
			if !listHas(res.header.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin on every response", res.header.Values("Vary"))
			}
			pre := ts.do(t, preflight("/chat/chat/completions", tt.origin, "POST", "authorization"))
			if tt.want {
				if got := res.header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != tt.origin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
				}
				wantAllowedPreflight(t, pre, tt.origin, "authorization")
				return
			}
			if got := corsHeaders(res.header); len(got) != 0 {
				t.Errorf("origin %q got CORS headers %v, want none", tt.origin, got)
			}
			if pre.status != http.StatusForbidden || len(corsHeaders(pre.header)) != 0 {
				t.Errorf("preflight = %d with %v, want 403 and no CORS headers", pre.status, corsHeaders(pre.header))
			}
		})
	}
}

func wantExposed(t *testing.T, res response, origin string) {
	t.Helper()
	if got := res.header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, origin)
	}
	expose := res.header.Values("Access-Control-Expose-Headers")
	if len(expose) != 1 {
		t.Errorf("Access-Control-Expose-Headers = %q, want one value", expose)
	}
	for _, h := range []string{
		"WWW-Authenticate", "X-Request-Id", "Retry-After", "DPoP-Nonce",
		"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
		"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
	} {
		if !listHas(expose, h) {
			t.Errorf("Access-Control-Expose-Headers = %q, want %s", expose, h)
		}
	}
	if _, ok := res.header["Access-Control-Allow-Credentials"]; ok {
		t.Error("Access-Control-Allow-Credentials sent")
	}
}

// TestCORSActualResponses: every answer to an allowed origin, errors included,
// lets the page read the origin's headers.
func TestCORSActualResponses(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.cfg.CORS = testCORS()
		o.cfg.SessionsPerMinute, o.cfg.Burst = 1, 1
	})
	origin := http.Header{"Origin": {webview}}
	withKey := http.Header{"Origin": {webview}, "X-API-Key": {testAPIKey}}

	created := ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: withKey, remote: "192.0.2.9:1"})
	if created.status != http.StatusCreated {
		t.Fatalf("POST /sessions = %d %s", created.status, created.body)
	}
	wantExposed(t, created, webview)
	tok := decodeJSON[tokenResponse](t, created.body).AccessToken

	t.Run("401 without a token", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodPost, path: "/chat/chat/completions", headers: origin, body: `{}`, ctype: "application/json"})
		if res.status != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d, WWW-Authenticate %q; want 401 with a challenge", res.status, res.header.Get("WWW-Authenticate"))
		}
		wantExposed(t, res, webview)
	})
	t.Run("401 with a bad token", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", headers: origin, bearer: "not.a.token"})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", res.status)
		}
		wantExposed(t, res, webview)
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: withKey, remote: "192.0.2.9:2"})
		if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q; want 429 with Retry-After", res.status, res.header.Get("Retry-After"))
		}
		wantExposed(t, res, webview)
	})
	t.Run("echo chat completion", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodPost, path: "/chat/completions", headers: origin, bearer: tok,
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, ctype: "application/json"})
		if res.status != http.StatusOK {
			t.Fatalf("status %d %s", res.status, res.body)
		}
		wantExposed(t, res, webview)
	})
	t.Run("404", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodGet, path: "/nope", headers: origin})
		if res.status != http.StatusNotFound {
			t.Fatalf("status %d", res.status)
		}
		wantExposed(t, res, webview)
	})
	t.Run("not allowed origin", func(t *testing.T) {
		res := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok,
			headers: http.Header{"Origin": {"https://evil.example"}}})
		if res.status != http.StatusOK {
			t.Fatalf("status %d %s", res.status, res.body)
		}
		if got := corsHeaders(res.header); len(got) != 0 {
			t.Errorf("CORS headers %v for an origin not allowed, want none", got)
		}
	})
	t.Run("OPTIONS that is not a preflight", func(t *testing.T) {
		// Without Access-Control-Request-Method it is an ordinary request.
		res := ts.do(t, request{method: http.MethodOptions, path: "/sessions", headers: origin})
		if res.status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", res.status)
		}
		wantExposed(t, res, webview)
	})
}

// TestCORSUpstreamHeadersReplaced: the upstream's Access-Control-* headers
// never reach the client; jwtgate's own stand, with one value each.
func TestCORSUpstreamHeadersReplaced(t *testing.T) {
	for _, tt := range []struct {
		name string
		cors server.CORSConfig
	}{
		{name: "cors on", cors: testCORS()},
		{name: "cors off", cors: server.CORSConfig{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newCountingUpstream(t)
			ts := newCORSTestServer(t, tt.cors, up)
			tok := ts.createSession(t, "").AccessToken
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/chat/completions", bearer: tok, body: `{}`,
				ctype: "application/json", headers: http.Header{"Origin": {webApp}}})
			if res.status != http.StatusOK || up.calls.Load() != 1 {
				t.Fatalf("status %d after %d upstream calls, want 200 after 1", res.status, up.calls.Load())
			}
			if got := res.header.Get("X-Ratelimit-Remaining-Requests"); got != "41" {
				t.Errorf("x-ratelimit-remaining-requests = %q, want the upstream's 41 passed on", got)
			}
			if len(tt.cors.AllowedOrigins) == 0 {
				if got := corsHeaders(res.header); len(got) != 0 {
					t.Errorf("CORS headers %v with cors off, want none (the upstream's dropped)", got)
				}
				return
			}
			want := []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"}
			if got := corsHeaders(res.header); !slices.Equal(got, want) {
				t.Errorf("CORS headers %v, want only %v", got, want)
			}
			wantExposed(t, res, webApp)
			if listHas(res.header.Values("Access-Control-Expose-Headers"), "X-Upstream-Secret") {
				t.Error("the upstream's Access-Control-Expose-Headers got through")
			}
		})
	}
}

func TestCORSMaxAge(t *testing.T) {
	for _, tt := range []struct {
		maxAge time.Duration
		want   string
	}{
		{10 * time.Minute, "600"},
		{90 * time.Second, "90"},
		{1500 * time.Millisecond, "1"},
		{0, "0"},
		{500 * time.Millisecond, "0"},
	} {
		t.Run(tt.maxAge.String(), func(t *testing.T) {
			cfg := testCORS()
			cfg.MaxAge = tt.maxAge
			ts := newCORSTestServer(t, cfg, nil)
			res := ts.do(t, preflight("/sessions", webApp, "POST", "content-type"))
			if res.status != http.StatusNoContent {
				t.Fatalf("status %d", res.status)
			}
			if got := res.header.Values("Access-Control-Max-Age"); len(got) != 1 || got[0] != tt.want {
				t.Errorf("Access-Control-Max-Age = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCORSOff: with no allowed origin jwtgate behaves as it does without CORS.
func TestCORSOff(t *testing.T) {
	up := newCountingUpstream(t)
	ts := newCORSTestServer(t, server.CORSConfig{AllowedHeaders: []string{"x-trace-id"}, MaxAge: time.Hour}, up)
	tok := ts.createSession(t, "").AccessToken

	res := ts.do(t, preflight("/sessions", webApp, "POST", "content-type"))
	wantError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := corsHeaders(res.header); len(got) != 0 {
		t.Errorf("CORS headers %v with cors off", got)
	}
	if listHas(res.header.Values("Vary"), "Origin") {
		t.Errorf("Vary = %q with cors off, want no Origin", res.header.Values("Vary"))
	}
	res = ts.do(t, request{method: http.MethodGet, path: "/healthz", headers: http.Header{"Origin": {webApp}}})
	if got := corsHeaders(res.header); len(got) != 0 || res.status != http.StatusOK {
		t.Errorf("GET /healthz = %d with CORS headers %v, want 200 and none", res.status, got)
	}
	// An OPTIONS to /chat/* is an ordinary chat request, as before CORS existed:
	// chat.allowed_methods refuses it by default, with the proxy's own 405.
	pre := preflight("/chat/chat/completions", webApp, "POST", "")
	pre.bearer = tok
	res = ts.do(t, pre)
	wantError(t, res, http.StatusMethodNotAllowed, "invalid_request")
	if got := res.header.Get("Allow"); got != "GET, POST, PUT, PATCH, DELETE, HEAD" || up.calls.Load() != 0 {
		t.Errorf("OPTIONS /chat/*: Allow %q after %d upstream calls, want chat.allowed_methods and none", got, up.calls.Load())
	}
	if got := corsHeaders(res.header); len(got) != 0 {
		t.Errorf("CORS headers %v with cors off", got)
	}
	// With OPTIONS allowed, it is proxied like any other method.
	ts = newTestServer(t, func(o *testOptions) {
		o.cfg.CORS = server.CORSConfig{AllowedHeaders: []string{"x-trace-id"}, MaxAge: time.Hour}
		o.cfg.Chat.UpstreamURL = up.url
		o.cfg.Chat.AllowedMethods = []string{http.MethodOptions, http.MethodPost}
	})
	pre.bearer = ts.createSession(t, "").AccessToken
	if res := ts.do(t, pre); res.status != http.StatusOK || up.calls.Load() != 1 {
		t.Errorf("OPTIONS /chat/* = %d after %d upstream calls, want it proxied", res.status, up.calls.Load())
	}
}

func TestCORSConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cors    server.CORSConfig
		key     string
		wantErr error
	}{
		{name: "bare star", cors: server.CORSConfig{AllowedOrigins: []string{webApp, "*"}}, key: `cors.allowed_origins[1]: invalid CORS origin "*"`, wantErr: crossorigin.ErrInvalidOrigin},
		{name: "path", cors: server.CORSConfig{AllowedOrigins: []string{"https://app.example/chat"}}, key: "cors.allowed_origins[0]", wantErr: crossorigin.ErrInvalidOrigin},
		{name: "https star", cors: server.CORSConfig{AllowedOrigins: []string{"https://*"}}, key: "cors.allowed_origins[0]", wantErr: crossorigin.ErrInvalidOrigin},
		{name: "header", cors: server.CORSConfig{AllowedOrigins: []string{webApp}, AllowedHeaders: []string{"bad header"}}, key: `cors.allowed_headers[0]: invalid CORS header name "bad header"`, wantErr: crossorigin.ErrInvalidHeader},
		{name: "max age", cors: server.CORSConfig{AllowedOrigins: []string{webApp}, MaxAge: -time.Second}, key: "cors.max_age: must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t) // for its issuer and verifier
			cfg := testConfig()
			cfg.CORS = tt.cors
			_, err := server.New(cfg, server.Deps{Issuer: ts.issuer, Verifier: ts.verifier})
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("New = %v, want an error naming %s", err, tt.key)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
}
