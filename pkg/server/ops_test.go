package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestHealthAndReadiness(t *testing.T) {
	ts := newTestServer(t)
	get := func(path string) response { return ts.do(t, request{method: http.MethodGet, path: path}) }

	if res := get("/healthz"); res.status != http.StatusOK || res.body != `{"status":"ok","version":"v0.0.0-test"}` {
		t.Errorf("/healthz = %d %s", res.status, res.body)
	}
	if res := get("/readyz"); res.status != http.StatusOK || res.body != `{"status":"ready","limits":"local"}` {
		t.Errorf("/readyz at start = %d %s, want ready", res.status, res.body)
	}
	ts.srv.SetReady(false)
	wantError(t, get("/readyz"), http.StatusServiceUnavailable, "not_ready")
	if res := get("/healthz"); res.status != http.StatusOK {
		t.Errorf("/healthz while not ready = %d, want 200", res.status)
	}
	ts.srv.SetReady(true)
	if res := get("/readyz"); res.status != http.StatusOK {
		t.Errorf("/readyz after SetReady(true) = %d", res.status)
	}
}

func TestJWKS(t *testing.T) {
	t.Run("HMAC only", func(t *testing.T) {
		ts := newTestServer(t)
		res := ts.do(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
		if res.status != http.StatusOK || res.body != `{"keys":[]}` {
			t.Errorf("JWKS = %d %s, want an empty key list", res.status, res.body)
		}
		if cc := res.header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("Cache-Control = %q", cc)
		}
	})
	t.Run("Ed25519", func(t *testing.T) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := token.NewPrivateKey("ed-1", "", priv)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := token.NewKeySet("", []*token.Key{key})
		if err != nil {
			t.Fatal(err)
		}
		ts := newTestServer(t, func(o *testOptions) { o.keys = ks })
		want, err := ks.JWKS()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second answer comes from the cached document
			res := ts.do(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
			if res.status != http.StatusOK || res.body != string(want) {
				t.Errorf("JWKS = %d %s, want %s", res.status, res.body, want)
			}
		}
		if !strings.Contains(string(want), `"kid":"ed-1"`) {
			t.Errorf("JWKS %s does not name the key", want)
		}
	})
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		method, path string
		wantStatus   int
		wantCode     string
		wantAllow    string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"GET", "/healthz/", 404, "not_found", ""},
		{"GET", "/chat", 404, "invalid_request", ""}, // the chat dialect: code invalid_request, type not_found_error
		{"GET", "/sessions", 405, "method_not_allowed", "POST"},
		{"DELETE", "/healthz", 405, "method_not_allowed", "GET"},
		{"PUT", "/sessions/current", 405, "method_not_allowed", "GET"},
		{"GET", "/sessions/refresh", 405, "method_not_allowed", "POST"},
	}
	for _, tt := range tests {
		res := ts.do(t, request{method: tt.method, path: tt.path})
		wantError(t, res, tt.wantStatus, tt.wantCode)
		if got := res.header.Get("Allow"); got != tt.wantAllow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.wantAllow)
		}
	}
}

// scrape fetches /metrics and parses the text exposition.
func scrape(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	res := ts.do(t, request{method: http.MethodGet, path: "/metrics"})
	if res.status != http.StatusOK {
		t.Fatalf("/metrics = %d", res.status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(res.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// value returns the value of the series of family name with labels, and whether
// it exists.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t)
	families := scrape(t, ts)
	for _, reason := range token.Labels() {
		if v, ok := value(families, "jwtgate_token_verify_failures_total", map[string]string{"reason": reason}); !ok || v != 0 {
			t.Errorf("verify failures for %q = %v (present %v), want a pre-declared 0", reason, v, ok)
		}
	}
	for _, name := range []string{"go_goroutines", "jwtgate_build_info"} {
		if _, ok := families[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	tok := ts.createSession(t, "").AccessToken
	ts.clock.advance(time.Hour) // the 15-minute token is now expired
	ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok})
	ts.do(t, request{method: http.MethodGet, path: "/sessions/current"}) // no token: not a verify failure
	ts.do(t, request{method: http.MethodGet, path: "/no/such/secret-path"})

	families = scrape(t, ts)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"jwtgate_token_verify_failures_total", map[string]string{"reason": "expired"}, 1},
		{"jwtgate_token_verify_failures_total", map[string]string{"reason": "signature"}, 0},
		{"jwtgate_tokens_issued_total", map[string]string{"kind": "new"}, 1},
		{"jwtgate_tokens_issued_total", map[string]string{"kind": "refresh"}, 0},
		{"jwtgate_http_requests_total", map[string]string{"route": "/sessions", "method": "POST", "code": "201"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "/sessions/current", "method": "GET", "code": "401"}, 2},
		{"jwtgate_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1},
		{"jwtgate_http_request_duration_seconds", map[string]string{"route": "/sessions/current", "method": "GET"}, 2},
		{"jwtgate_build_info", map[string]string{"version": "v0.0.0-test"}, 1},
	}
	for _, c := range checks {
		if got, ok := value(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	res := ts.do(t, request{method: http.MethodGet, path: "/metrics"})
	if strings.Contains(res.body, "secret-path") {
		t.Error("a raw request path became a label value")
	}
}

func TestMetricsSharedRegistry(t *testing.T) {
	// Two servers on one registry (and a registry that already has the Go
	// collector) share the series instead of failing.
	reg := prometheus.NewRegistry()
	ts := newTestServer(t)
	for range 2 {
		if _, err := server.New(testConfig(), server.Deps{Issuer: ts.issuer, Verifier: ts.verifier, Registry: reg}); err != nil {
			t.Fatalf("New on a shared registry: %v", err)
		}
	}
}

func TestMethodLabelBounded(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "BREW", path: "/healthz"})
	families := scrape(t, ts)
	if v, ok := value(families, "jwtgate_http_requests_total", map[string]string{"method": "other", "code": "405"}); !ok || v != 1 {
		t.Errorf("request with method BREW counted as %v (present %v), want method=other", v, ok)
	}
}

func TestAccessLog(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok})
	ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: "a.b.c"})
	ts.do(t, request{method: http.MethodGet, path: "/secret-path-xyz"})

	var access []map[string]any
	for _, rec := range ts.logs.lines(t) {
		if rec["msg"] == "request" {
			access = append(access, rec)
		}
	}
	if len(access) != 4 {
		t.Fatalf("%d access lines, want 4: %v", len(access), access)
	}
	fp := ts.issuer.Fingerprint(testAPIKey)
	want := []struct {
		method string
		route  string
		status float64
		fp     string
		fail   string
	}{
		{"POST", "/sessions", 201, fp, ""},
		{"GET", "/sessions/current", 200, fp, ""},
		{"GET", "/sessions/current", 401, "", "malformed"},
		{"GET", "unmatched", 404, "", ""},
	}
	for i, w := range want {
		a := access[i]
		if a["level"] != "INFO" || a["method"] != w.method || a["route"] != w.route || a["status"] != w.status {
			t.Errorf("access line %d = %v, want %s %s status %v", i, a, w.method, w.route, w.status)
		}
		if got, _ := a["api_key_fingerprint"].(string); got != w.fp {
			t.Errorf("access line %d fingerprint = %q, want %q", i, got, w.fp)
		}
		if got, _ := a["auth_failure"].(string); got != w.fail {
			t.Errorf("access line %d auth_failure = %q, want %q", i, got, w.fail)
		}
		if _, ok := a["latency"]; !ok {
			t.Errorf("access line %d has no latency", i)
		}
		if _, ok := a["bytes"]; !ok {
			t.Errorf("access line %d has no bytes", i)
		}
		if id, _ := a["request_id"].(string); id == "" {
			t.Errorf("access line %d has no request_id", i)
		}
	}
	if strings.Contains(ts.logs.String(), "secret-path-xyz") {
		t.Error("the log carries a raw path")
	}
}

// TestNoSecretsLeak runs every flow and checks that no response body (beyond the
// token responses themselves) and no log line carries the API key or a token.
func TestNoSecretsLeak(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.AllowedAPIKeys = []string{testAPIKey} })
	tok := ts.createSession(t, `{"subject":"alice"}`).AccessToken
	json := "application/json"
	keyHeader := http.Header{"X-API-Key": {testAPIKey}}

	var refreshed string
	requests := []request{
		{method: "POST", path: "/sessions", headers: http.Header{"X-API-Key": {otherAPIKey}}},
		{method: "POST", path: "/sessions", headers: keyHeader, body: `{"api_key":"` + otherAPIKey + `"}`, ctype: json},
		{method: "POST", path: "/sessions", body: `{"api_key":"` + testAPIKey + `","ttl":"` + testAPIKey + `"}`, ctype: json},
		{method: "POST", path: "/sessions", body: `{"` + testAPIKey + `":1}`, ctype: json},
		{method: "POST", path: "/sessions", body: `{"api_key":"` + testAPIKey + `"`, ctype: json},
		{method: "POST", path: "/sessions", headers: keyHeader, body: `{}`, ctype: "text/" + testAPIKey},
		{method: "GET", path: "/sessions/current", bearer: tok},
		{method: "GET", path: "/sessions/current", bearer: tok + "x"},
		{method: "GET", path: "/sessions/current", headers: http.Header{"Authorization": {"Bearer " + tok + " " + testAPIKey}}},
		{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":"user","content":"hi"}]}`, ctype: json},
		{method: "POST", path: "/chat/completions", bearer: tok, body: `{"stream":true,"messages":[{"role":"user","content":"hi there"}]}`, ctype: json},
		{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":"` + testAPIKey + `","content":1}]}`, ctype: json},
		{method: "GET", path: "/chat/" + testAPIKey, bearer: tok},
		{method: "GET", path: "/" + tok},
		{method: "GET", path: "/metrics"},
	}
	for _, r := range requests {
		res := ts.do(t, r)
		if res.status >= 500 {
			t.Errorf("%s %s: status %d", r.method, r.path, res.status)
		}
		if strings.Contains(res.body, testAPIKey) || strings.Contains(res.body, tok) {
			t.Errorf("%s %s (status %d): response body carries the key or the token", r.method, r.path, res.status)
		}
		if strings.Contains(strings.Join(res.header.Values("WWW-Authenticate"), ""), testAPIKey) {
			t.Errorf("%s %s: challenge carries the key", r.method, r.path)
		}
	}
	res := ts.do(t, request{method: "POST", path: "/sessions/refresh", bearer: tok})
	if res.status != http.StatusOK {
		t.Fatalf("refresh = %d", res.status)
	}
	refreshed = decodeJSON[tokenResponse](t, res.body).AccessToken
	if strings.Contains(res.body, testAPIKey) {
		t.Error("refresh response carries the key")
	}

	logs := ts.logs.String()
	if logs == "" {
		t.Fatal("nothing was logged")
	}
	for name, secret := range map[string]string{"API key": testAPIKey, "other API key": otherAPIKey, "token": tok, "refreshed token": refreshed} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log carries the %s", name)
		}
	}
	// The parts of a JWT are as secret as the whole: a log must not hold the
	// signature either.
	if sig := tok[strings.LastIndexByte(tok, '.')+1:]; strings.Contains(logs, sig) {
		t.Error("the log carries the token's signature")
	}
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.SessionsPerMinute, o.cfg.Burst = 1, 1 })
	create := func(remote string) response {
		return ts.do(t, request{method: http.MethodPost, path: "/sessions", remote: remote, headers: http.Header{"X-API-Key": {testAPIKey}}})
	}
	if res := create("192.0.2.1:1000"); res.status != http.StatusCreated {
		t.Fatalf("first request = %d", res.status)
	}
	res := create("192.0.2.1:1001")
	wantError(t, res, http.StatusTooManyRequests, "rate_limited")
	if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q, want 1 to 60 seconds", res.header.Get("Retry-After"))
	}
	if res := create("192.0.2.2:1000"); res.status != http.StatusCreated {
		t.Errorf("another client = %d, want its own budget", res.status)
	}
	// One IPv6 host holds a /64: its addresses share a budget.
	if res := create("[2001:db8::1]:1000"); res.status != http.StatusCreated {
		t.Errorf("IPv6 client = %d", res.status)
	}
	wantError(t, create("[2001:db8::2]:1000"), http.StatusTooManyRequests, "rate_limited")
	// Other routes are not limited.
	if res := ts.do(t, request{method: http.MethodGet, path: "/healthz", remote: "192.0.2.1:1002"}); res.status != http.StatusOK {
		t.Errorf("/healthz = %d", res.status)
	}
}

// panicVerifier stands in for a bug: Verify panics.
type panicVerifier struct {
	*token.Verifier
	value any
}

func (p panicVerifier) Verify(context.Context, string) (token.Claims, error) { panic(p.value) }

func TestRecovery(t *testing.T) {
	ts := newTestServer(t)
	logs := &logBuffer{}
	srv, err := server.New(testConfig(), server.Deps{
		Issuer:   ts.issuer,
		Verifier: panicVerifier{ts.verifier, "boom"},
		Logger:   newJSONLogger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/sessions/current", nil)
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	wantError(t, response{rec.Code, rec.Header(), rec.Body.String()}, http.StatusInternalServerError, "internal_error")
	if strings.Contains(rec.Body.String(), "boom") {
		t.Error("500 body carries panic detail")
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Error("panic not logged")
	}

	// http.ErrAbortHandler is how a handler asks net/http to cut the response:
	// it must reach net/http.
	srv, err = server.New(testConfig(), server.Deps{Issuer: ts.issuer, Verifier: panicVerifier{ts.verifier, http.ErrAbortHandler}})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
			}
		}()
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
}

func TestNewRequiresDeps(t *testing.T) {
	ts := newTestServer(t)
	for _, d := range []server.Deps{{}, {Issuer: ts.issuer}, {Verifier: ts.verifier}} {
		if _, err := server.New(testConfig(), d); err == nil {
			t.Errorf("New(%+v) succeeded", d)
		}
	}
	if _, err := server.New(server.Config{}, server.Deps{Issuer: ts.issuer, Verifier: ts.verifier}); err != nil {
		t.Errorf("New with a zero Config: %v", err)
	}
}

func TestPublicMetricsOff(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.PublicMetrics = false })
	wantError(t, ts.do(t, request{method: http.MethodGet, path: "/metrics"}), http.StatusNotFound, "not_found")
	// The series are still collected, for a listener of the binary's own.
	ts.createSession(t, "")
	families, err := ts.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range families {
		if f.GetName() == "jwtgate_tokens_issued_total" {
			found = true
		}
	}
	if !found {
		t.Error("the registry lacks jwtgate_tokens_issued_total")
	}
}

func TestUpstreamMetricsDeclared(t *testing.T) {
	families := scrape(t, newTestServer(t))
	for _, kind := range []string{"unreachable", "timeout", "canceled", "too_large"} {
		if v, ok := value(families, "jwtgate_upstream_errors_total", map[string]string{"kind": kind}); !ok || v != 0 {
			t.Errorf("upstream errors of kind %q = %v (present %v), want a pre-declared 0", kind, v, ok)
		}
	}
}

// TestTrustedProxies checks whose X-Forwarded-For the rate limit believes.
func TestTrustedProxies(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.cfg.SessionsPerMinute, o.cfg.Burst = 1, 1
		o.cfg.TrustedProxies = []string{"192.0.2.10", "198.51.100.0/24"}
	})
	create := func(remote, xff string) int {
		h := http.Header{"X-API-Key": {testAPIKey}}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		return ts.do(t, request{method: http.MethodPost, path: "/sessions", remote: remote, headers: h}).status
	}
	steps := []struct {
		name        string
		remote, xff string
		want        int
	}{
		{"client behind a trusted proxy", "192.0.2.10:4000", "203.0.113.1", http.StatusCreated},
		{"same client again", "192.0.2.10:4001", "203.0.113.1", http.StatusTooManyRequests},
		{"same client through another trusted proxy", "198.51.100.7:4000", "203.0.113.1", http.StatusTooManyRequests},
		{"another client behind the proxy", "192.0.2.10:4002", "203.0.113.2", http.StatusCreated},
		{"client that forged an address before the proxy", "192.0.2.10:4003", "10.9.9.9, 203.0.113.1", http.StatusTooManyRequests},
		{"chain of trusted proxies", "192.0.2.10:4004", "203.0.113.3, 198.51.100.9", http.StatusCreated},
		{"untrusted peer", "203.0.113.50:4000", "203.0.113.60", http.StatusCreated},
		{"untrusted peer forging another address", "203.0.113.50:4001", "203.0.113.61", http.StatusTooManyRequests},
		{"the trusted proxy itself, no header", "192.0.2.10:4005", "", http.StatusCreated},
	}
	for _, s := range steps {
		if got := create(s.remote, s.xff); got != s.want {
			t.Errorf("%s: POST /sessions from %s with X-Forwarded-For %q = %d, want %d", s.name, s.remote, s.xff, got, s.want)
		}
	}
}

func TestTrustedProxiesNoneByDefault(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.cfg.SessionsPerMinute, o.cfg.Burst = 1, 1 })
	for i, want := range []int{http.StatusCreated, http.StatusTooManyRequests} {
		h := http.Header{"X-API-Key": {testAPIKey}, "X-Forwarded-For": {"203.0.113." + strconv.Itoa(i+1)}, "X-Real-Ip": {"203.0.113." + strconv.Itoa(i+1)}}
		if got := ts.do(t, request{method: http.MethodPost, path: "/sessions", remote: "127.0.0.1:5000", headers: h}).status; got != want {
			t.Errorf("request %d = %d, want %d: forwarding headers must be ignored", i, got, want)
		}
	}
}

func TestTrustedProxiesInvalid(t *testing.T) {
	ts := newTestServer(t)
	cfg := testConfig()
	cfg.TrustedProxies = []string{"not-an-address"}
	_, err := server.New(cfg, server.Deps{Issuer: ts.issuer, Verifier: ts.verifier})
	if err == nil || !strings.Contains(err.Error(), "server.trusted_proxies") {
		t.Errorf("New with a bad trusted proxy = %v, want an error naming server.trusted_proxies", err)
	}
}
