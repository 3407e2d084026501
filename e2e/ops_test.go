package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// logRecords returns the JSON log records the server wrote, skipping anything
// that is not a JSON object (there should be nothing else).
func logRecords(t *testing.T, s *server) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.Logs()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// scrapeMetrics fetches url (a /metrics endpoint) and parses the text format.
func scrapeMetrics(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return families
}

// series returns the value of the series of family name whose labels include
// labels (a histogram's sample count), and whether there is one.
func series(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
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
		case m.Summary != nil:
			return float64(m.GetSummary().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsExposition drives traffic through the real binary, proxy included,
// then parses its /metrics output and checks the families and labels.
func TestMetricsExposition(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(upstream.Close)
	secret, apiKey := newSecret(t), newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + secret,
		"JWTGATE_CHAT_UPSTREAM_URL=" + upstream.URL + "/v1",
	})

	tok := s.createSession(t, apiKey).AccessToken
	s.currentSession(t, tok)
	checkInvalidToken(t, s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tamper(t, tok)}))
	if resp := s.do(t, request{Method: http.MethodGet, Path: "/chat/models", Token: tok}); resp.Status != http.StatusOK {
		t.Fatalf("proxied GET = %d %s", resp.Status, resp.Body)
	}
	s.do(t, request{Method: http.MethodGet, Path: "/no/such/path-" + apiKey})
	upstream.Close()
	if resp := s.do(t, request{Method: http.MethodGet, Path: "/chat/models", Token: tok}); resp.Status != http.StatusBadGateway {
		t.Fatalf("proxied GET with the upstream gone = %d, want 502", resp.Status)
	}

	families := scrapeMetrics(t, s.Client, s.URL+"/metrics")
	checks := []struct {
		name   string
		labels map[string]string
		want   float64 // -1: any value, the series must exist
	}{
		{"jwtgate_http_requests_total", map[string]string{"route": "/sessions", "method": "POST", "code": "201"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "/sessions/current", "method": "GET", "code": "200"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "/sessions/current", "method": "GET", "code": "401"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "/chat/*path", "method": "GET", "code": "200"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "/chat/*path", "method": "GET", "code": "502"}, 1},
		{"jwtgate_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1},
		{"jwtgate_http_request_duration_seconds", map[string]string{"route": "/chat/*path", "method": "GET"}, 2},
		{"jwtgate_tokens_issued_total", map[string]string{"kind": "new"}, 1},
		{"jwtgate_tokens_issued_total", map[string]string{"kind": "refresh"}, 0},
		{"jwtgate_token_verify_failures_total", map[string]string{"reason": "signature"}, 1},
		{"jwtgate_token_verify_failures_total", map[string]string{"reason": "expired"}, 0},
		{"jwtgate_upstream_request_duration_seconds", map[string]string{"code": "200"}, 1},
		{"jwtgate_upstream_errors_total", map[string]string{"kind": "unreachable"}, 1},
		{"jwtgate_upstream_errors_total", map[string]string{"kind": "timeout"}, 0},
		{"jwtgate_upstream_errors_total", map[string]string{"kind": "canceled"}, 0},
		{"jwtgate_upstream_errors_total", map[string]string{"kind": "too_large"}, 0},
		{"jwtgate_build_info", map[string]string{"version": "e2e"}, 1},
		{"go_goroutines", nil, -1},
		{"go_memstats_heap_alloc_bytes", nil, -1},
		{"go_gc_duration_seconds", nil, -1},
		{"process_resident_memory_bytes", nil, -1},
	}
	for _, c := range checks {
		got, ok := series(families, c.name, c.labels)
		if !ok || (c.want >= 0 && got != c.want) {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Every refusal reason is a series from the start, and the label sets are
	// small and fixed: no raw path, key or token ever becomes a label value.
	for _, reason := range token.Labels() {
		if _, ok := series(families, "jwtgate_token_verify_failures_total", map[string]string{"reason": reason}); !ok {
			t.Errorf("no verify-failure series for reason %q", reason)
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				if strings.Contains(v, "no/such") || strings.Contains(v, apiKey) || strings.Contains(v, secret) || strings.Contains(v, tok) {
					t.Errorf("%s has label %s=%q from client input", name, lp.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsListener checks metrics.addr (metrics only there, 404 on the
// public port) and metrics.enabled=false (no /metrics at all).
func TestMetricsListener(t *testing.T) {
	maddr := freeLoopbackAddr(t)
	s := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t), "JWTGATE_METRICS_ADDR=" + maddr})
	var logged string
	for _, rec := range logRecords(t, s) {
		if rec["msg"] == "metrics listening" {
			logged, _ = rec["addr"].(string)
		}
	}
	if logged != maddr {
		t.Fatalf("metrics listening on %q, want %q", logged, maddr)
	}
	s.createSession(t, newAPIKey(t))
	families := scrapeMetrics(t, &http.Client{}, "http://"+maddr+"/metrics")
	if v, ok := series(families, "jwtgate_tokens_issued_total", map[string]string{"kind": "new"}); !ok || v != 1 {
		t.Errorf("tokens issued on the metrics listener = %v (present %v), want 1", v, ok)
	}
	resp := s.do(t, request{Method: http.MethodGet, Path: "/metrics"})
	if resp.Status != http.StatusNotFound {
		t.Errorf("public /metrics with metrics.addr set = %d, want 404", resp.Status)
	}

	off := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t), "JWTGATE_METRICS_ENABLED=false"})
	if resp := off.do(t, request{Method: http.MethodGet, Path: "/metrics"}); resp.Status != http.StatusNotFound {
		t.Errorf("/metrics with metrics.enabled=false = %d, want 404", resp.Status)
	}
	if strings.Contains(off.Logs(), "metrics listening") {
		t.Error("a metrics listener started with metrics.enabled=false")
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccessLog captures the binary's JSON log: one access line per request
// with its fields, the request id equal to the X-Request-ID response header,
// and no API key, secret or token anywhere.
func TestAccessLog(t *testing.T) {
	secret, apiKey := newSecret(t), newAPIKey(t)
	s := startServer(t, []string{"JWTGATE_JWT_SECRET=" + secret, "JWTGATE_CHAT_ECHO_DELAY=1ms"})
	fp := secretFingerprint(t, secret, apiKey)

	var tok, refreshed string
	type sent struct {
		req      request
		clientID string // the X-Request-ID sent, if any
		keep     bool   // it is well formed, so it must be used
		route    string
		status   int
		fp       string // the fingerprint the line must carry; "" none
		id       string // the response's X-Request-ID, filled in
	}
	plan := []*sent{
		{req: request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}}, clientID: "create-1", keep: true, route: "/sessions", status: 201, fp: fp},
		{req: request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + apiKey + `"}`}, route: "/sessions", status: 201, fp: fp},
		{req: request{Method: http.MethodGet, Path: "/sessions/current"}, clientID: "has spaces in it", route: "/sessions/current", status: 200, fp: fp},
		{req: request{Method: http.MethodPost, Path: "/sessions/refresh"}, clientID: strings.Repeat("x", 129), route: "/sessions/refresh", status: 200, fp: fp},
		{req: request{Method: http.MethodPost, Path: "/chat/completions", Body: `{"messages":[{"role":"user","content":"hi"}]}`}, clientID: "chat.2_b-C", keep: true, route: "/chat/*path", status: 200, fp: fp},
		{req: request{Method: http.MethodGet, Path: "/sessions/current"}, route: "/sessions/current", status: 401},
		{req: request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": "sk bad " + apiKey}}, route: "/sessions", status: 401},
		{req: request{Method: http.MethodGet, Path: "/" + apiKey}, route: "unmatched", status: 404},
		{req: request{Method: http.MethodGet, Path: "/healthz"}, clientID: `"quoted"`, route: "/healthz", status: 200},
	}
	for i, p := range plan {
		if p.clientID != "" {
			if p.req.Header == nil {
				p.req.Header = map[string]string{}
			}
			p.req.Header["X-Request-ID"] = p.clientID
		}
		if i >= 2 && i <= 4 {
			p.req.Token = tok
		}
		resp := s.do(t, p.req)
		if resp.Status != p.status {
			t.Fatalf("request %d: %s %s = %d, want %d; body %s", i, p.req.Method, p.req.Path, resp.Status, p.status, resp.Body)
		}
		ids := resp.Header.Values("X-Request-ID")
		if len(ids) != 1 {
			t.Fatalf("request %d: X-Request-ID = %q, want one value", i, ids)
		}
		p.id = ids[0]
		switch {
		case p.keep && p.id != p.clientID:
			t.Errorf("request %d: X-Request-ID = %q, want the client's %q", i, p.id, p.clientID)
		case !p.keep && !hexID.MatchString(p.id):
			t.Errorf("request %d: X-Request-ID = %q, want 32 generated hex digits", i, p.id)
		}
		switch i {
		case 0:
			var sess session
			resp.JSON(t, &sess)
			tok = sess.AccessToken
		case 3:
			var sess session
			resp.JSON(t, &sess)
			refreshed = sess.AccessToken
		}
	}
	// Stopping first lets every handler finish, so every line is written.
	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}

	byID := map[string][]map[string]any{}
	for _, rec := range logRecords(t, s) {
		if rec["msg"] != "request" {
			continue
		}
		for k := range rec {
			// input_tokens, output_tokens and estimated_tokens are usage counts, not credentials.
			if lk := strings.ToLower(k); lk != "api_key_fingerprint" && lk != "input_tokens" && lk != "output_tokens" && lk != "estimated_tokens" &&
				(strings.Contains(lk, "authorization") || strings.Contains(lk, "api_key") ||
					strings.Contains(lk, "token") || strings.Contains(lk, "secret")) {
				t.Errorf("access line has a field %q: %v", k, rec)
			}
		}
		id, _ := rec["request_id"].(string)
		if id == "" {
			t.Errorf("access line without request_id: %v", rec)
		}
		byID[id] = append(byID[id], rec)
	}
	for i, p := range plan {
		lines := byID[p.id]
		if len(lines) != 1 {
			t.Errorf("request %d (%s %s): %d access lines with request_id %q, want 1", i, p.req.Method, p.req.Path, len(lines), p.id)
			continue
		}
		rec := lines[0]
		if rec["level"] != "INFO" || rec["method"] != p.req.Method || rec["route"] != p.route || rec["status"] != float64(p.status) {
			t.Errorf("request %d: access line %v, want %s %s status %d", i, rec, p.req.Method, p.route, p.status)
		}
		if lat, _ := rec["latency"].(string); lat == "" {
			t.Errorf("request %d: latency = %v, want a duration", i, rec["latency"])
		} else if _, err := time.ParseDuration(lat); err != nil {
			t.Errorf("request %d: latency %q: %v", i, lat, err)
		}
		if b, ok := rec["bytes"].(float64); !ok || b < 0 {
			t.Errorf("request %d: bytes = %v, want a count", i, rec["bytes"])
		}
		if got, _ := rec["api_key_fingerprint"].(string); got != p.fp {
			t.Errorf("request %d: api_key_fingerprint = %q, want %q", i, got, p.fp)
		}
	}
	// No line carries a refused client id, which could hold anything.
	for _, p := range plan {
		if p.clientID != "" && !p.keep && strings.Contains(s.Logs(), p.clientID) {
			t.Errorf("the log carries the refused request id %q", p.clientID)
		}
	}
	assertNoLeak(t, "logs", s.Logs(), secret, apiKey, tok, refreshed, "Bearer "+tok)
}

// createUntil posts to /sessions until the server answers 429 (at most max
// times) and returns how many were created before, and the 429.
func createUntil(t *testing.T, s *server, max int, header map[string]string) (int, *response) {
	t.Helper()
	for i := range max {
		resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: header})
		switch resp.Status {
		case http.StatusCreated:
		case http.StatusTooManyRequests:
			return i, resp
		default:
			t.Fatalf("POST /sessions #%d = %d; body %s", i+1, resp.Status, resp.Body)
		}
	}
	return max, nil
}

// checkRateLimited checks a 429: JSON error rate_limited and a Retry-After of
// 1 to 60 seconds.
func checkRateLimited(t *testing.T, resp *response) {
	t.Helper()
	if resp == nil {
		t.Fatal("never rate limited")
	}
	var e errorBody
	resp.JSON(t, &e)
	if e.Error != "rate_limited" || e.ErrorDescription == "" {
		t.Errorf("429 body = %s, want error rate_limited", resp.Body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
	}
}

// TestRateLimitDefault checks that POST /sessions is limited out of the box:
// the burst of 10 passes, then 429 with Retry-After. (At 60 a minute one more
// token refills each second, so a slow run may see a few more pass first.)
func TestRateLimitDefault(t *testing.T) {
	s := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t)})
	key := map[string]string{"X-API-Key": newAPIKey(t)}
	created, resp := createUntil(t, s, 100, key)
	if created < 10 {
		t.Errorf("%d sessions before the first 429, want the burst of 10", created)
	}
	checkRateLimited(t, resp)
	// Only POST /sessions is limited.
	if resp := s.do(t, request{Method: http.MethodGet, Path: "/healthz"}); resp.Status != http.StatusOK {
		t.Errorf("/healthz while limited = %d", resp.Status)
	}
}

// TestRateLimitConfigured sets a burst of 3 and one session a minute: exactly
// three pass, then 429, while the sessions themselves keep working.
func TestRateLimitConfigured(t *testing.T) {
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=1",
		"JWTGATE_RATE_LIMIT_BURST=3",
	})
	apiKey := newAPIKey(t)
	tok := s.createSession(t, apiKey).AccessToken
	created, resp := createUntil(t, s, 10, map[string]string{"X-API-Key": apiKey})
	if created != 2 {
		t.Errorf("%d more sessions after the first, want 2 (a burst of 3)", created)
	}
	checkRateLimited(t, resp)
	s.currentSession(t, tok)
	checkSession(t, s.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}), http.StatusOK)
}

// TestTrustedProxiesEndToEnd checks that X-Forwarded-For names the client only
// when the peer is in server.trusted_proxies.
func TestTrustedProxiesEndToEnd(t *testing.T) {
	env := []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=1",
		"JWTGATE_RATE_LIMIT_BURST=1",
	}
	apiKey := newAPIKey(t)
	create := func(s *server, forwardedFor string) int {
		return s.do(t, request{Method: http.MethodPost, Path: "/sessions",
			Header: map[string]string{"X-API-Key": apiKey, "X-Forwarded-For": forwardedFor}}).Status
	}

	behind := startServer(t, append(env, "JWTGATE_SERVER_TRUSTED_PROXIES=127.0.0.1"))
	for _, step := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.1", http.StatusCreated},
		{"203.0.113.1", http.StatusTooManyRequests},
		{"203.0.113.2", http.StatusCreated},
		{"198.51.100.1, 203.0.113.2", http.StatusTooManyRequests}, // the proxy appended the real client last
	} {
		if got := create(behind, step.xff); got != step.want {
			t.Errorf("behind a trusted proxy, X-Forwarded-For %q: %d, want %d", step.xff, got, step.want)
		}
	}

	direct := startServer(t, env)
	if got := create(direct, "203.0.113.1"); got != http.StatusCreated {
		t.Errorf("no trusted proxies, first request: %d, want 201", got)
	}
	if got := create(direct, "203.0.113.2"); got != http.StatusTooManyRequests {
		t.Errorf("no trusted proxies, a forged X-Forwarded-For: %d, want 429 (the peer address is the client)", got)
	}
}
