package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/usagetest"
	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/server"
)

// Known usage the usage upstream reports, per API (the end of the path):
// input and output tokens.
var upstreamUsage = map[string][2]int64{
	"/chat/completions": {7, 5},
	"/responses":        {11, 4},
	"/messages":         {9, 6},
}

// apiOf returns the key of upstreamUsage for an upstream path, or "".
func apiOf(path string) string {
	for api := range upstreamUsage {
		if strings.HasSuffix(path, api) {
			return api
		}
	}
	return ""
}

// usageUpstream is a loopback chat backend that answers the three APIs that
// report usage in their real shapes, whole or streamed, with the usage of
// upstreamUsage (a chat stream carries it only when asked, as OpenAI's does),
// and keeps what it received.
type usageUpstream struct {
	url *url.URL
	mu  sync.Mutex
	got []upstreamRequest
	// hold, when set, makes a streamed answer stop before its usage until the
	// client has gone away; held is told when it does.
	hold bool
	held chan struct{}
	// noUsage answers JSON without usage; garbage streams events that are not JSON.
	noUsage, garbage bool
}

type upstreamRequest struct {
	path, acceptEncoding, body string
}

func newUsageUpstream(t *testing.T, modify ...func(*usageUpstream)) *usageUpstream {
	t.Helper()
	u := &usageUpstream{held: make(chan struct{}, 1)}
	for _, m := range modify {
		m(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(srv.Close)
	var err error
	if u.url, err = url.Parse(srv.URL + "/v1"); err != nil {
		t.Fatal(err)
	}
	return u
}

// requests returns what the upstream received so far.
func (u *usageUpstream) requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamRequest(nil), u.got...)
}

func (u *usageUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, upstreamRequest{path: r.URL.Path, acceptEncoding: r.Header.Get("Accept-Encoding"), body: string(body)})
	u.mu.Unlock()
	var req struct {
		Stream        bool `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &req)
	w.Header().Set("X-Ratelimit-Remaining-Requests", "41") // the upstream's own, for its key
	api := apiOf(r.URL.Path)
	use, ok := upstreamUsage[api]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[]}`)
		return
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		if u.noUsage {
			io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[]}`)
			return
		}
		io.WriteString(w, usagetest.Answer(api, use))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	events := usagetest.Events(api, use, req.StreamOptions.IncludeUsage)
	if u.garbage {
		events = []string{"data: {not json\n\n", "data: [1,2\n\n", "data: [DONE]\n\n"}
	}
	fl := w.(http.Flusher)
	for i, ev := range events {
		if u.hold && i == len(events)-2 {
			// Everything before the usage is out; wait for the client to leave.
			<-r.Context().Done()
			u.held <- struct{}{}
			return
		}
		io.WriteString(w, ev)
		fl.Flush()
	}
}

// newCountingServer is a server proxying to up (nil: the echo backend).
func newCountingServer(t *testing.T, up *usageUpstream, modify ...func(*testOptions)) *testServer {
	t.Helper()
	return newTestServer(t, append([]func(*testOptions){func(o *testOptions) {
		if up != nil {
			o.cfg.Chat.UpstreamURL = up.url
		}
		o.cfg.Limits.MetricsModels = []string{"gpt-test"}
	}}, modify...)...)
}

// limitedSession opens a session with limits (the JSON of the body member).
func (ts *testServer) limitedSession(t *testing.T, limits string) string {
	t.Helper()
	return ts.createSession(t, `{"limits":`+limits+`}`).AccessToken
}

func chatPost(tok, path, body string) request {
	return request{method: http.MethodPost, path: path, body: body, ctype: "application/json", bearer: tok}
}

const (
	chatJSONBody   = `{"model":"gpt-test","messages":[{"role":"user","content":"Hello"}]}`
	chatStreamBody = `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello"}]}`
)

// wantRefused checks a 429 of the counting step: the OpenAI error shape with
// code and type, and Retry-After in whole seconds.
func wantRefused(t *testing.T, res response, code, typ string, retryAfter int) {
	t.Helper()
	e := wantError(t, res, http.StatusTooManyRequests, code)
	if e.Type != typ {
		t.Errorf("type = %q, want %q", e.Type, typ)
	}
	if got := res.header.Get("Retry-After"); got != strconv.Itoa(retryAfter) {
		t.Errorf("Retry-After = %q, want %d", got, retryAfter)
	}
}

func TestCountingRequestsPerMinute(t *testing.T) {
	up := newUsageUpstream(t)
	ts := newCountingServer(t, up)
	tok := ts.limitedSession(t, `{"requests_per_minute":2}`)
	for i, want := range []string{"1", "0"} {
		res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody))
		if res.status != http.StatusOK {
			t.Fatalf("request %d: status %d %s", i+1, res.status, res.body)
		}
		h := res.header
		if h.Get("X-Ratelimit-Limit-Requests") != "2" || h.Get("X-Ratelimit-Remaining-Requests") != want || h.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Errorf("request %d: x-ratelimit-*-requests = %q %q %q, want 2 %s and a reset (the upstream's own replaced)", i+1,
				h.Get("X-Ratelimit-Limit-Requests"), h.Values("X-Ratelimit-Remaining-Requests"), h.Get("X-Ratelimit-Reset-Requests"), want)
		}
		if h.Get("X-Ratelimit-Limit-Tokens") != "" {
			t.Errorf("request %d: x-ratelimit-limit-tokens = %q for a session without a token limit", i+1, h.Get("X-Ratelimit-Limit-Tokens"))
		}
	}
	res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody))
	wantRefused(t, res, "rate_limit_exceeded", "rate_limit_error", 30) // one request every 30 s
	if got := res.header.Get("X-Ratelimit-Remaining-Requests"); got != "0" {
		t.Errorf("429: x-ratelimit-remaining-requests = %q, want 0", got)
	}
	if n := len(up.requests()); n != 2 {
		t.Errorf("the upstream received %d requests, want 2: a refused one is not forwarded", n)
	}
	// Another session is not affected, and a session without limits gets no headers.
	other := ts.createSession(t, "").AccessToken
	res = ts.do(t, chatPost(other, "/chat/chat/completions", chatJSONBody))
	if res.status != http.StatusOK || res.header.Get("X-Ratelimit-Remaining-Requests") != "41" {
		t.Errorf("unlimited session: %d, x-ratelimit-remaining-requests %q, want 200 and the upstream's own", res.status, res.header.Values("X-Ratelimit-Remaining-Requests"))
	}
	// Half a minute later one more is let through.
	ts.clock.advance(30 * time.Second)
	if res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody)); res.status != http.StatusOK {
		t.Errorf("after 30s: status %d %s", res.status, res.body)
	}
	fam := scrape(t, ts)
	if v, _ := value(fam, "jwtgate_limits_refused_total", map[string]string{"limit": "requests_per_minute"}); v != 1 {
		t.Errorf("jwtgate_limits_refused_total{limit=requests_per_minute} = %v, want 1", v)
	}
}

func TestCountingTotalTokens(t *testing.T) {
	up := newUsageUpstream(t)
	ts := newCountingServer(t, up)
	tok := ts.limitedSession(t, `{"total_tokens":10}`)
	res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody))
	if res.status != http.StatusOK || res.header.Get("X-Ratelimit-Remaining-Tokens") != "10" || res.header.Get("X-Ratelimit-Limit-Tokens") != "10" {
		t.Fatalf("first request: %d, tokens %q of %q, want 200 with 10 of 10", res.status, res.header.Get("X-Ratelimit-Remaining-Tokens"), res.header.Get("X-Ratelimit-Limit-Tokens"))
	}
	// 12 tokens spent: one request's overshoot, then the budget holds.
	res = ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody))
	wantRefused(t, res, "budget_exceeded", "insufficient_quota", int(24*time.Hour/time.Second))
	if got := res.header.Get("X-Ratelimit-Remaining-Tokens"); got != "0" {
		t.Errorf("429: x-ratelimit-remaining-tokens = %q, want 0", got)
	}
	// A refreshed token shares the session's budget.
	fresh := decodeJSON[tokenResponse](t, ts.do(t, request{method: http.MethodPost, path: "/sessions/refresh", bearer: tok}).body).AccessToken
	wantRefused(t, ts.do(t, chatPost(fresh, "/chat/chat/completions", chatJSONBody)), "budget_exceeded", "insufficient_quota", int(24*time.Hour/time.Second))
	if n := len(up.requests()); n != 1 {
		t.Errorf("the upstream received %d requests, want 1", n)
	}
}

func TestCountingTokensPerMinute(t *testing.T) {
	up := newUsageUpstream(t)
	ts := newCountingServer(t, up)
	tok := ts.limitedSession(t, `{"tokens_per_minute":10}`)
	if res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody)); res.status != http.StatusOK {
		t.Fatalf("first request: %d %s", res.status, res.body)
	}
	res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody))
	if e := wantError(t, res, http.StatusTooManyRequests, "rate_limit_exceeded"); e.Type != "rate_limit_error" {
		t.Errorf("type = %q", e.Type)
	}
	if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 120 {
		t.Errorf("Retry-After = %q, want 1 to 120 seconds", res.header.Get("Retry-After"))
	}
	ts.clock.advance(2 * time.Minute)
	if res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody)); res.status != http.StatusOK {
		t.Errorf("two minutes later: %d %s", res.status, res.body)
	}
}

func TestCountingConcurrentRequests(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	upSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(upSrv.Close)
	ts := newCountingServer(t, nil, func(o *testOptions) { o.cfg.Chat.UpstreamURL = mustURL(t, upSrv.URL) })
	tok := ts.limitedSession(t, `{"concurrent_requests":1}`)
	first := make(chan response, 1)
	go func() { first <- ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok}) }()
	<-arrived
	res := ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok})
	wantRefused(t, res, "rate_limit_exceeded", "rate_limit_error", 1)
	close(release)
	if res := <-first; res.status != http.StatusOK {
		t.Fatalf("first request: %d %s", res.status, res.body)
	}
	if res := ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok}); res.status != http.StatusOK {
		t.Errorf("after the first finished: %d %s", res.status, res.body)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCountingRefusalCORS: a browser UI can read a 429's Retry-After and
// x-ratelimit-* headers.
func TestCountingRefusalCORS(t *testing.T) {
	ts := newCountingServer(t, nil, func(o *testOptions) {
		o.cfg.CORS = server.CORSConfig{AllowedOrigins: []string{"https://app.example"}}
	})
	tok := ts.limitedSession(t, `{"requests_per_minute":1}`)
	r := chatPost(tok, "/chat/chat/completions", chatJSONBody)
	r.headers = http.Header{"Origin": {"https://app.example"}}
	ts.do(t, r)
	res := ts.do(t, r)
	wantRefused(t, res, "rate_limit_exceeded", "rate_limit_error", 60)
	if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	exposed := strings.ToLower(res.header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-remaining-tokens"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
}

// TestCountingEachSurface: the budget is spent by what the answers of the three
// APIs report, whole and streamed, through the proxy; the x-ratelimit-*
// headers of the next answer show what is left.
func TestCountingEachSurface(t *testing.T) {
	up := newUsageUpstream(t)
	ts := newCountingServer(t, up)
	const budget = 1000
	tok := ts.limitedSession(t, `{"total_tokens":1000}`)
	spent := int64(0)
	for _, tt := range []struct {
		path, api, body string
	}{
		{"/chat/chat/completions", "/chat/completions", chatJSONBody},
		{"/chat/chat/completions", "/chat/completions", chatStreamBody},
		{"/chat/responses", "/responses", `{"model":"gpt-test","input":"Hello"}`},
		{"/chat/responses", "/responses", `{"model":"gpt-test","input":"Hello","stream":true}`},
		{"/chat/v1/messages", "/messages", `{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"Hello"}]}`},
		{"/chat/v1/messages", "/messages", `{"model":"claude-test","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`},
	} {
		res := ts.do(t, chatPost(tok, tt.path, tt.body))
		if res.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", tt.path, tt.body, res.status, res.body)
		}
		if got, want := res.header.Get("X-Ratelimit-Remaining-Tokens"), strconv.FormatInt(budget-spent, 10); got != want {
			t.Errorf("%s %s: x-ratelimit-remaining-tokens = %q, want %s", tt.path, tt.body, got, want)
		}
		use := upstreamUsage[tt.api]
		spent += use[0] + use[1]
	}
	res := ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok})
	if got, want := res.header.Get("X-Ratelimit-Remaining-Tokens"), strconv.FormatInt(budget-spent, 10); got != want {
		t.Errorf("after all six: x-ratelimit-remaining-tokens = %q, want %s", got, want)
	}
	fam := scrape(t, ts)
	for _, tt := range []struct {
		model, kind string
		want        float64
	}{
		{"gpt-test", "input", 2 * (7 + 11)}, {"gpt-test", "output", 2 * (5 + 4)},
		{"other", "input", 2 * 9}, {"other", "output", 2 * 6},
	} {
		if v, _ := value(fam, "jwtgate_chat_tokens_total", map[string]string{"model": tt.model, "kind": tt.kind}); v != tt.want {
			t.Errorf("jwtgate_chat_tokens_total{model=%s,kind=%s} = %v, want %v", tt.model, tt.kind, v, tt.want)
		}
	}
	// Counting asks for uncompressed answers of the usage APIs only.
	r := chatPost(tok, "/chat/chat/completions", chatJSONBody)
	r.headers = http.Header{"Accept-Encoding": {"gzip"}}
	ts.do(t, r)
	ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok, headers: http.Header{"Accept-Encoding": {"gzip"}}})
	got := up.requests()
	if ae := got[len(got)-2].acceptEncoding; ae != "" {
		t.Errorf("chat completion forwarded with Accept-Encoding %q", ae)
	}
	if ae := got[len(got)-1].acceptEncoding; ae != "gzip" {
		t.Errorf("GET /models forwarded with Accept-Encoding %q, want the client's", ae)
	}
}

// TestCountingStripsInjectedUsage: a session that counts tokens makes a
// streamed chat completion ask for its usage, and the client that did not ask
// gets the stream byte for byte as the upstream sends it without; a client
// that asked gets the usage chunk. A session without a token limit is left
// alone.
func TestCountingStripsInjectedUsage(t *testing.T) {
	up := newUsageUpstream(t)
	ts := newCountingServer(t, up)
	use := upstreamUsage["/chat/completions"]
	plain := strings.Join(usagetest.Events("/chat/completions", use, false), "")
	withUsage := strings.Join(usagetest.Events("/chat/completions", use, true), "")
	asked := `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello"}]}`
	for _, tt := range []struct {
		name, limits, body       string
		wantUpstream, wantClient string
	}{
		{"counted, not asked", `{"total_tokens":1000}`, chatStreamBody,
			`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello"}],"stream_options":{"include_usage":true}}`, plain},
		{"counted, asked", `{"tokens_per_minute":1000}`, asked, asked, withUsage},
		{"counted, asked not to", `{"total_tokens":1000,"max_output_tokens":50}`,
			`{"model":"gpt-test","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
			`{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[],"max_completion_tokens":50}`, plain},
		{"counted and capped", `{"total_tokens":1000,"max_output_tokens":50}`, chatStreamBody,
			`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello"}],"max_completion_tokens":50,"stream_options":{"include_usage":true}}`, plain},
		{"counted, capped in place of null", `{"total_tokens":1000,"max_output_tokens":50}`,
			`{"model":"gpt-test","stream":true,"messages":[],"max_completion_tokens":null}`,
			`{"model":"gpt-test","stream":true,"messages":[],"max_completion_tokens":50,"stream_options":{"include_usage":true}}`, plain},
		{"counted, white space after the object", `{"total_tokens":1000,"max_output_tokens":50}`, chatStreamBody + "\n",
			`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello"}],"max_completion_tokens":50,"stream_options":{"include_usage":true}}` + "\n", plain},
		{"not counted", `{"requests_per_minute":100}`, chatStreamBody, chatStreamBody, plain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := ts.limitedSession(t, tt.limits)
			res := ts.do(t, chatPost(tok, "/chat/chat/completions", tt.body))
			if res.status != http.StatusOK {
				t.Fatalf("status %d %s", res.status, res.body)
			}
			got := up.requests()
			if b := got[len(got)-1].body; b != tt.wantUpstream {
				t.Errorf("upstream received\n%s\nwant\n%s", b, tt.wantUpstream)
			}
			if res.body != tt.wantClient {
				t.Errorf("client received\n%q\nwant\n%q", res.body, tt.wantClient)
			}
			if cl := res.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(res.body)) {
				t.Errorf("Content-Length %s for %d bytes", cl, len(res.body))
			}
		})
	}
	// Every stream of a session that counts tokens reported its usage,
	// stripped or not; the other was not asked for it. None was estimated.
	fam := scrape(t, ts)
	if v, _ := value(fam, "jwtgate_chat_usage_missing_total", map[string]string{"surface": "chat_completions"}); v != 0 {
		t.Errorf("jwtgate_chat_usage_missing_total = %v, want 0", v)
	}
	for model, n := range map[string]int64{"gpt-test": 6, "unknown": 0} {
		if v, _ := value(fam, "jwtgate_chat_tokens_total", map[string]string{"model": model, "kind": "output"}); v != float64(n*use[1]) {
			t.Errorf("output tokens counted for model %s: %v, want %d", model, v, n*use[1])
		}
	}
}

// TestCountingUnreadableUsage: a stream whose events are not JSON reaches the
// client unchanged; the parse failures are counted and logged, and the answer
// is charged an estimate.
func TestCountingUnreadableUsage(t *testing.T) {
	up := newUsageUpstream(t, func(u *usageUpstream) { u.garbage = true })
	ts := newCountingServer(t, up)
	tok := ts.limitedSession(t, `{"total_tokens":1000}`)
	res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatStreamBody))
	if want := "data: {not json\n\ndata: [1,2\n\ndata: [DONE]\n\n"; res.status != http.StatusOK || res.body != want {
		t.Fatalf("%d %q, want the stream unchanged", res.status, res.body)
	}
	fam := scrape(t, ts)
	if v, _ := value(fam, "jwtgate_chat_usage_malformed_total", map[string]string{"surface": "chat_completions"}); v != 2 {
		t.Errorf("jwtgate_chat_usage_malformed_total = %v, want 2", v)
	}
	if v, _ := value(fam, "jwtgate_chat_usage_missing_total", map[string]string{"surface": "chat_completions"}); v != 1 {
		t.Errorf("jwtgate_chat_usage_missing_total = %v, want 1", v)
	}
	if !strings.Contains(ts.logs.String(), `"msg":"chat answer's usage could not be read"`) {
		t.Errorf("no log line about the unreadable usage:\n%s", ts.logs)
	}
	// Charged: a quarter of the body's bytes, and one token per event (3).
	want := 1000 - (int64(len(chatStreamBody))+3)/4 - 3
	res = ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok})
	if got := res.header.Get("X-Ratelimit-Remaining-Tokens"); got != strconv.FormatInt(want, 10) {
		t.Errorf("x-ratelimit-remaining-tokens = %q, want %d", got, want)
	}
}

// TestCountingClientAbort: a client that goes away before the usage chunk is
// charged an estimate, not nothing.
func TestCountingClientAbort(t *testing.T) {
	up := newUsageUpstream(t, func(u *usageUpstream) { u.hold = true })
	ts := newCountingServer(t, up)
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)
	tok := ts.limitedSession(t, `{"total_tokens":1000}`)

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/chat/chat/completions", strings.NewReader(chatStreamBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the three content chunks (the upstream holds the usage chunk back),
	// then go away.
	br := bufio.NewReader(resp.Body)
	for events := 0; events < 3; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", events, err)
		}
		if line == "\n" {
			events++
		}
	}
	cancel()
	resp.Body.Close()
	<-up.held
	// The request is recorded (status 499) once it has been charged.
	waitFor(t, "the aborted request's access line", func() bool { return strings.Contains(ts.logs.String(), `"status":499`) })

	res := ts.do(t, request{method: http.MethodGet, path: "/chat/models", bearer: tok})
	want := 1000 - (int64(len(chatStreamBody))+3)/4 - 3
	if got := res.header.Get("X-Ratelimit-Remaining-Tokens"); got != strconv.FormatInt(want, 10) {
		t.Errorf("x-ratelimit-remaining-tokens = %q, want %d (estimate: body/4 + 3 events)", got, want)
	}
	if !strings.Contains(ts.logs.String(), `"estimated_tokens":`) {
		t.Errorf("the access line does not say the charge was estimated:\n%s", ts.logs)
	}
}

// waitFor polls cond until it holds; it fails the test if it does not within
// a minute (a bound against hanging, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCountingEchoBackend: the echo backend's answers spend the budget too,
// in all three shapes, whole and streamed, and the client sees the echo's
// stream unchanged.
func TestCountingEchoBackend(t *testing.T) {
	ts := newCountingServer(t, nil)
	tok := ts.limitedSession(t, `{"total_tokens":1000}`)
	// Echo usage: input is the words of the conversation (2), output the
	// words of the reply (2).
	const msg = `"messages":[{"role":"user","content":"hello world"}]`
	spent := 0
	for _, tt := range []struct{ path, body string }{
		{"/chat/chat/completions", `{"model":"gpt-test",` + msg + `}`},
		{"/chat/chat/completions", `{"model":"gpt-test","stream":true,` + msg + `}`},
		{"/chat/completions", `{"model":"gpt-test",` + msg + `}`},
		{"/chat/responses", `{"model":"gpt-test","input":"hello world"}`},
		{"/chat/responses", `{"model":"gpt-test","stream":true,"input":"hello world"}`},
		{"/chat/v1/messages", `{"model":"claude-x","max_tokens":10,` + msg + `}`},
		{"/chat/v1/messages", `{"model":"claude-x","max_tokens":10,"stream":true,` + msg + `}`},
	} {
		res := ts.do(t, chatPost(tok, tt.path, tt.body))
		if res.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.path, res.status, res.body)
		}
		if got := res.header.Get("X-Ratelimit-Remaining-Tokens"); got != strconv.Itoa(1000-spent) {
			t.Errorf("%s %s: remaining %q, want %d", tt.path, tt.body, got, 1000-spent)
		}
		if strings.Contains(tt.body, `"stream":true`) && strings.HasSuffix(tt.path, "/completions") && strings.Contains(res.body, `"usage"`) {
			t.Errorf("%s: the echo stream carries usage the client did not ask for:\n%s", tt.path, res.body)
		}
		spent += 4
	}
	lines := ts.logs.lines(t)
	var access map[string]any
	for _, l := range lines {
		if l["msg"] == "request" && l["route"] == "/chat/*path" {
			access = l
		}
	}
	if access == nil || access["model"] != "claude-x" || access["input_tokens"] != 2.0 || access["output_tokens"] != 2.0 || access["session_id"] == "" || access["session_id"] == nil {
		t.Errorf("access line %v, want model claude-x, 2 input and 2 output tokens and the session id", access)
	}
}

// TestCountingBudgetWithEcho: a budget holds against the echo backend, so the
// flow is testable without an upstream.
func TestCountingBudgetWithEcho(t *testing.T) {
	ts := newCountingServer(t, nil)
	tok := ts.limitedSession(t, `{"total_tokens":10}`)
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"one two three"}]}` // 6 tokens
	for i := range 2 {
		if res := ts.do(t, chatPost(tok, "/chat/chat/completions", body)); res.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, res.status, res.body)
		}
	}
	wantRefused(t, ts.do(t, chatPost(tok, "/chat/chat/completions", body)), "budget_exceeded", "insufficient_quota", int(24*time.Hour/time.Second))
}

// TestReadyzShowsCounters: /readyz says where the counters are, and stays 200
// when Redis is unreachable; a limited session is served on local counters.
func TestReadyzShowsCounters(t *testing.T) {
	ts := newCountingServer(t, nil, func(o *testOptions) {
		// A port nobody listens on: unreachable from the start.
		o.meterOpts = append(o.meterOpts, meter.WithRedis("redis://:s3cret-pass@127.0.0.1:1/0"), meter.WithProbeInterval(time.Hour))
	})
	res := ts.do(t, request{method: http.MethodGet, path: "/readyz"})
	if res.status != http.StatusOK || res.body != `{"status":"ready","limits":"fallback"}` {
		t.Errorf("/readyz = %d %s, want 200 with limits fallback", res.status, res.body)
	}
	tok := ts.limitedSession(t, `{"requests_per_minute":1}`)
	if res := ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody)); res.status != http.StatusOK {
		t.Errorf("chat on fallback counters: %d %s", res.status, res.body)
	}
	wantRefused(t, ts.do(t, chatPost(tok, "/chat/chat/completions", chatJSONBody)), "rate_limit_exceeded", "rate_limit_error", 60)
	fam := scrape(t, ts)
	for state, want := range map[string]float64{"fallback": 1, "shared": 0, "local": 0} {
		if v, ok := value(fam, "jwtgate_limits_state", map[string]string{"state": state}); !ok || v != want {
			t.Errorf("jwtgate_limits_state{state=%s} = %v (%v), want %v", state, v, ok, want)
		}
	}
	if v, _ := value(fam, "jwtgate_limits_redis_errors_total", nil); v < 1 {
		t.Errorf("jwtgate_limits_redis_errors_total = %v, want at least 1", v)
	}
	if v, _ := value(fam, "jwtgate_limits_local_decisions_total", nil); v != 2 {
		t.Errorf("jwtgate_limits_local_decisions_total = %v, want 2", v)
	}
	if strings.Contains(ts.logs.String(), "s3cret-pass") {
		t.Error("the Redis password is in the logs")
	}
}

func TestLimitsConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		models []string
		want   string
	}{
		{nil, ""},
		{[]string{"gpt-4o", "claude-sonnet-4-5"}, ""},
		{[]string{"gpt-4o", ""}, "limits.metrics_models[1]: must be 1 to 128 bytes of UTF-8"},
		{[]string{strings.Repeat("m", 129)}, "limits.metrics_models[0]: must be 1 to 128 bytes of UTF-8"},
		{[]string{"\xff"}, "limits.metrics_models[0]: must be 1 to 128 bytes of UTF-8"},
		{[]string{"other"}, "limits.metrics_models[0]: other is the label of models not in the list"},
		{[]string{"a", "b", "a"}, "limits.metrics_models[2]: listed twice"},
		{strings.Split(strings.Repeat("m,", 100)+"m", ","), "limits.metrics_models: at most 100 names, got 101"},
	} {
		err := server.LimitsConfig{MetricsModels: tt.models}.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%d models: %v, want valid", len(tt.models), err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%d models: %v, want %q", len(tt.models), err, tt.want)
		}
	}
}
