package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/internal/usagetest"
)

// The counting half of session limits against the binary: replicas sharing
// their counters through a real redis-server, and without it; Redis going away
// and coming back; the budget spent by the answers of a loopback upstream.
//
// The request-rate tests send a few requests to replicas on loopback, far
// faster than the rate refills (one request every 20 seconds): the counts they
// assert are exact as long as a dozen loopback requests take less than that.

const countingRPM = 3 // one request every 20 s, 3 at once

// limitedSession opens a session with limits (the JSON of the body member) on s.
func (s *server) limitedSession(t *testing.T, apiKey, limits string) string {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey},
		Body: `{"limits":` + limits + `}`})
	return checkSession(t, resp, http.StatusCreated).AccessToken
}

// readyLimits returns the limits member of s's /readyz answer (which must be 200).
func (s *server) readyLimits(t *testing.T) string {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodGet, Path: "/readyz"})
	if resp.Status != http.StatusOK {
		t.Fatalf("/readyz = %d %s, want 200", resp.Status, resp.Body)
	}
	var body struct {
		Status string `json:"status"`
		Limits string `json:"limits"`
	}
	resp.JSON(t, &body)
	if body.Status != "ready" {
		t.Errorf("/readyz status %q", body.Status)
	}
	return body.Limits
}

// waitReadyLimits polls /readyz until its limits member is want.
func (s *server) waitReadyLimits(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for got := s.readyLimits(t); got != want; got = s.readyLimits(t) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz limits %q, want %q within %s", got, want, startTimeout)
		}
		time.Sleep(pollInterval)
	}
}

// roundRobin sends n chat requests with tok, each to the next replica, and
// returns how many got 200; any other status but 429 fails the test.
func roundRobin(t *testing.T, replicas []*server, tok string, n int) int {
	t.Helper()
	ok := 0
	for i := range n {
		resp := replicas[i%len(replicas)].do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions", Token: tok,
			Body: `{"model":"echo","messages":[{"role":"user","content":"hi"}]}`})
		switch resp.Status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			var e errorBody
			resp.JSON(t, &e)
			if e.Error != "rate_limit_exceeded" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("request %d: 429 %s (Retry-After %q), want rate_limit_exceeded with Retry-After", i, resp.Body, resp.Header.Get("Retry-After"))
			}
		default:
			t.Errorf("request %d to replica %d: %d %s", i, i%len(replicas)+1, resp.Status, resp.Body)
		}
	}
	return ok
}

// startCountingReplicas starts n replicas sharing a secret, with env added.
func startCountingReplicas(t *testing.T, n int, env ...string) []*server {
	t.Helper()
	cfgFile := writeDeploymentConfig(t, newSecret(t))
	replicas := make([]*server, n)
	for i := range replicas {
		replicas[i] = startServer(t, env, "--config", cfgFile)
	}
	return replicas
}

// TestSharedLimits: three replicas sharing Redis hold a session's
// requests_per_minute exactly across round-robin requests; the same three
// without Redis let through three times as many.
func TestSharedLimits(t *testing.T) {
	apiKey := newAPIKey(t)
	limits := fmt.Sprintf(`{"requests_per_minute":%d}`, countingRPM)
	t.Run("redis", func(t *testing.T) {
		rs := redistest.Start(t)
		replicas := startCountingReplicas(t, 3, "JWTGATE_LIMITS_REDIS_URL="+rs.URL())
		// A replica whose first ping to Redis timed out on a loaded machine starts
		// on its own counters and goes over to Redis by itself: wait for that.
		for _, r := range replicas {
			r.waitReadyLimits(t, "shared")
		}
		tok := replicas[0].limitedSession(t, apiKey, limits)
		if got := roundRobin(t, replicas, tok, 12); got != countingRPM {
			t.Errorf("%d of 12 requests let through across 3 replicas sharing Redis, want exactly %d", got, countingRPM)
		}
	})
	t.Run("local", func(t *testing.T) {
		replicas := startCountingReplicas(t, 3)
		for i, r := range replicas {
			if got := r.readyLimits(t); got != "local" {
				t.Errorf("replica %d: /readyz limits %q, want local", i+1, got)
			}
		}
		tok := replicas[0].limitedSession(t, apiKey, limits)
		if got := roundRobin(t, replicas, tok, 12); got != 3*countingRPM {
			t.Errorf("%d of 12 requests let through across 3 replicas without Redis, want %d (each counts alone)", got, 3*countingRPM)
		}
	})
}

// TestRedisOutage: Redis killed mid-run gives no 5xx, the replicas fall back to
// their own counters and say so; Redis back, sharing resumes by itself. The
// Redis password never reaches a log.
func TestRedisOutage(t *testing.T) {
	const password = "redis-pass-0d9c8b7a6f5e4d3c"
	rs := redistest.Start(t, redistest.WithPassword(password))
	replicas := startCountingReplicas(t, 3, "JWTGATE_LIMITS_REDIS_URL="+rs.URL())
	apiKey := newAPIKey(t)
	limits := fmt.Sprintf(`{"requests_per_minute":%d}`, countingRPM)
	// As in TestSharedLimits: every replica on Redis first, or one that started
	// on its own counters would count the requests below there too.
	for _, r := range replicas {
		r.waitReadyLimits(t, "shared")
	}

	tok := replicas[0].limitedSession(t, apiKey, limits)
	if got := roundRobin(t, replicas, tok, countingRPM); got != countingRPM {
		t.Fatalf("%d of %d let through before the outage", got, countingRPM)
	}

	rs.Kill()
	// The session's Redis counters are out of reach: each replica starts
	// counting it afresh on its own, so 3 each.
	if got := roundRobin(t, replicas, tok, 12); got != 3*countingRPM {
		t.Errorf("%d of 12 let through during the outage, want %d (each replica's own counters)", got, 3*countingRPM)
	}
	for i, r := range replicas {
		if got := r.readyLimits(t); got != "fallback" {
			t.Errorf("replica %d: /readyz limits %q during the outage, want fallback", i+1, got)
		}
		metrics := r.do(t, request{Method: http.MethodGet, Path: "/metrics"})
		for _, want := range []string{`jwtgate_limits_state{state="fallback"} 1`, `jwtgate_limits_state{state="shared"} 0`} {
			if !strings.Contains(string(metrics.Body), want) {
				t.Errorf("replica %d: /metrics lacks %s", i+1, want)
			}
		}
		if !strings.Contains(string(metrics.Body), "jwtgate_limits_redis_errors_total ") || strings.Contains(string(metrics.Body), "jwtgate_limits_redis_errors_total 0\n") {
			t.Errorf("replica %d: no Redis error counted", i+1)
		}
		if !strings.Contains(r.Logs(), "redis unreachable") {
			t.Errorf("replica %d: the outage is not logged", i+1)
		}
	}

	rs.Restart()
	for _, r := range replicas {
		r.waitReadyLimits(t, "shared")
	}
	fresh := replicas[1].limitedSession(t, apiKey, limits)
	if got := roundRobin(t, replicas, fresh, 12); got != countingRPM {
		t.Errorf("%d of 12 let through once Redis is back, want exactly %d", got, countingRPM)
	}
	for i, r := range replicas {
		assertNoLeak(t, fmt.Sprintf("replica %d's logs", i+1), r.Logs(), password)
		if !strings.Contains(r.Logs(), "redis answers again") {
			t.Errorf("replica %d: the return is not logged", i+1)
		}
	}
}

// TestRedisTLS: rediss:// with a password in the URL, the server's
// authority given to the binary as SSL_CERT_FILE.
func TestRedisTLS(t *testing.T) {
	const password = "redis-tls-pass-7e6d5c4b3a29"
	rs := redistest.Start(t, redistest.WithPassword(password), redistest.WithTLS())
	if !strings.HasPrefix(rs.URL(), "rediss://") {
		t.Fatalf("URL %q is not rediss://", rs.URL())
	}
	replicas := startCountingReplicas(t, 2, "JWTGATE_LIMITS_REDIS_URL="+rs.URL(), "SSL_CERT_FILE="+rs.CAFile())
	// As in TestSharedLimits: a first ping that timed out on a loaded machine
	// leaves a replica on its own counters until its probe reaches Redis.
	for _, r := range replicas {
		r.waitReadyLimits(t, "shared")
	}
	tok := replicas[0].limitedSession(t, newAPIKey(t), fmt.Sprintf(`{"requests_per_minute":%d}`, countingRPM))
	if got := roundRobin(t, replicas, tok, 8); got != countingRPM {
		t.Errorf("%d of 8 let through over TLS, want exactly %d", got, countingRPM)
	}
	for i, r := range replicas {
		assertNoLeak(t, fmt.Sprintf("replica %d's logs", i+1), r.Logs(), password)
	}
}

// usageUpstream is a loopback chat backend that reports known usage in the
// three APIs' real shapes, whole and streamed (a chat stream only when asked,
// as OpenAI's does), and keeps the bodies it received.
type usageUpstream struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

// upstreamUsage is what it reports per API (the end of the path): input, output.
var upstreamUsage = map[string][2]int64{"/chat/completions": {7, 5}, "/responses": {11, 4}, "/messages": {9, 6}}

func newUsageUpstream(t *testing.T) *usageUpstream {
	t.Helper()
	u := &usageUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.bodies = append(u.bodies, string(body))
		u.mu.Unlock()
		var req struct {
			Stream        bool `json:"stream"`
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		_ = json.Unmarshal(body, &req)
		api := ""
		for a := range upstreamUsage {
			if strings.HasSuffix(r.URL.Path, a) {
				api = a
			}
		}
		if api == "" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"object":"list","data":[]}`)
			return
		}
		use := upstreamUsage[api]
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, usagetest.Answer(api, use))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range usagetest.Events(api, use, req.StreamOptions.IncludeUsage) {
			io.WriteString(w, ev)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *usageUpstream) lastBody() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.bodies[len(u.bodies)-1]
}

// TestBudgetThroughProxy: the budget is spent by what the answers of the three
// APIs report, whole and streamed, through the binary's proxy; the client of a
// streamed chat completion gets the upstream's stream byte for byte without
// the usage chunk jwtgate asked for; the budget spent, the next request is
// refused with budget_exceeded and never forwarded. The access lines carry
// the model, the usage and the session id.
func TestBudgetThroughProxy(t *testing.T) {
	up := newUsageUpstream(t)
	apiKey := newAPIKey(t)
	s := startServer(t, []string{"JWTGATE_CHAT_UPSTREAM_URL=" + up.URL + "/v1", "JWTGATE_LIMITS_METRICS_MODELS=gpt-test"})
	const budget = 80 // the six answers spend 2*(12+15+15) = 84
	tok := s.limitedSession(t, apiKey, fmt.Sprintf(`{"total_tokens":%d}`, budget))
	sid := s.currentSession(t, tok).SessionID
	const msgs = `"messages":[{"role":"user","content":"Hello"}]`
	spent := 0
	for _, tt := range []struct{ path, api, body string }{
		{"/chat/chat/completions", "/chat/completions", `{"model":"gpt-test",` + msgs + `}`},
		{"/chat/chat/completions", "/chat/completions", `{"model":"gpt-test","stream":true,` + msgs + `}`},
		{"/chat/responses", "/responses", `{"model":"gpt-test","input":"Hello"}`},
		{"/chat/responses", "/responses", `{"model":"gpt-test","stream":true,"input":"Hello"}`},
		{"/chat/v1/messages", "/messages", `{"model":"claude-test","max_tokens":64,` + msgs + `}`},
		{"/chat/v1/messages", "/messages", `{"model":"claude-test","max_tokens":64,"stream":true,` + msgs + `}`},
	} {
		resp := s.do(t, request{Method: http.MethodPost, Path: tt.path, Token: tok, Body: tt.body})
		if resp.Status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", tt.path, tt.body, resp.Status, resp.Body)
		}
		if got, want := resp.Header.Get("X-Ratelimit-Remaining-Tokens"), strconv.Itoa(max(budget-spent, 0)); got != want {
			t.Errorf("%s %s: x-ratelimit-remaining-tokens %q, want %s", tt.path, tt.body, got, want)
		}
		if resp.Header.Get("X-Ratelimit-Limit-Tokens") != strconv.Itoa(budget) {
			t.Errorf("%s: x-ratelimit-limit-tokens %q", tt.path, resp.Header.Get("X-Ratelimit-Limit-Tokens"))
		}
		use := upstreamUsage[tt.api]
		if tt.api == "/chat/completions" && strings.Contains(tt.body, "stream") {
			if got := up.lastBody(); !strings.Contains(got, `"stream_options":{"include_usage":true}`) {
				t.Errorf("the upstream was not asked for the usage chunk: %s", got)
			}
			if want := strings.Join(usagetest.Events(tt.api, use, false), ""); string(resp.Body) != want {
				t.Errorf("client stream\n%q\nwant the upstream's without the usage chunk\n%q", resp.Body, want)
			}
		}
		spent += int(use[0] + use[1])
	}
	resp := s.do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions", Token: tok, Body: `{"model":"gpt-test",` + msgs + `}`})
	if resp.Status != http.StatusTooManyRequests {
		t.Fatalf("after %d of %d tokens: %d %s, want 429", spent, budget, resp.Status, resp.Body)
	}
	var e errorBody
	resp.JSON(t, &e)
	if e.Error != "budget_exceeded" || e.Type != "insufficient_quota" || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Ratelimit-Remaining-Tokens") != "0" {
		t.Errorf("429 %s, Retry-After %q, remaining %q; want budget_exceeded, insufficient_quota, a Retry-After and 0 left", resp.Body,
			resp.Header.Get("Retry-After"), resp.Header.Get("X-Ratelimit-Remaining-Tokens"))
	}
	up.mu.Lock()
	forwarded := len(up.bodies)
	up.mu.Unlock()
	if forwarded != 6 {
		t.Errorf("the upstream received %d requests, want 6: the refused one is not forwarded", forwarded)
	}

	// An access line is written once its answer is out: wait for the last.
	waitLog(t, s, `"route":"/chat/*path"`, 7)
	var chat []map[string]any
	for _, rec := range logRecords(t, s) {
		if rec["msg"] == "request" && rec["route"] == "/chat/*path" {
			chat = append(chat, rec)
		}
	}
	if len(chat) != 7 {
		t.Fatalf("%d chat access lines, want 7", len(chat))
	}
	if l := chat[0]; l["session_id"] != sid || l["model"] != "gpt-test" || l["input_tokens"] != 7.0 || l["output_tokens"] != 5.0 {
		t.Errorf("access line %v, want session %s, model gpt-test, 7 input and 5 output tokens", l, sid)
	}
	if l := chat[6]; l["status"] != 429.0 || l["limit"] != "total_tokens" {
		t.Errorf("access line of the refusal %v, want 429 and limit total_tokens", l)
	}
	metrics := string(s.do(t, request{Method: http.MethodGet, Path: "/metrics"}).Body)
	for _, want := range []string{
		`jwtgate_chat_tokens_total{kind="input",model="gpt-test"} 36`,
		`jwtgate_chat_tokens_total{kind="output",model="other"} 12`,
		`jwtgate_limits_refused_total{limit="total_tokens"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
