package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/server"
)

// wsGuard bounds waits that only a broken server would exhaust; nothing asserts
// how long anything takes.
const wsGuard = 10 * time.Second

// wsUpstream is a loopback WebSocket backend speaking subprotocol realtime: it
// records each handshake's headers, greets the client, then echoes every
// message.
type wsUpstream struct {
	srv     *httptest.Server
	url     *url.URL
	headers chan http.Header
}

func newWSUpstream(t *testing.T) *wsUpstream {
	t.Helper()
	u := &wsUpstream{headers: make(chan http.Header, 8)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.headers <- r.Header.Clone()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"realtime"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		if err := c.Write(ctx, websocket.MessageText, []byte("hello from upstream")); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	var err error
	if u.url, err = url.Parse(u.srv.URL); err != nil {
		t.Fatal(err)
	}
	return u
}

// received returns the headers of the upstream's last handshake.
func (u *wsUpstream) received(t *testing.T) http.Header {
	t.Helper()
	select {
	case h := <-u.headers:
		return h
	default:
		t.Fatal("the upstream received no handshake")
		return nil
	}
}

func wsURL(front *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(front.URL, "http") + path
}

// headerHolds reports whether any value in h contains s.
func headerHolds(h http.Header, s string) bool {
	for _, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// waitAccessLine waits for the access line of route with status, failing at the
// guard. The line of a WebSocket is written when the connection ends.
func waitAccessLine(t *testing.T, ts *testServer, route string, status int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(wsGuard)
	for {
		for _, rec := range accessLines(t, ts) {
			if rec["route"] == route && rec["status"] == float64(status) {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access line for %s with status %d:\n%s", route, status, ts.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebSocketRoundTrip opens a WebSocket through the whole server with the
// session token in each subprotocol form, and checks what the upstream and the
// client see, the access line and the request metric.
func TestWebSocketRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		prefix     string
		authHeader string
		authScheme string
		wantAuth   string
	}{
		{name: "jwtgate.bearer", prefix: "jwtgate.bearer.", authHeader: "Authorization", authScheme: "Bearer", wantAuth: "Bearer " + testAPIKey},
		{name: "openai-insecure-api-key, key in x-api-key", prefix: "openai-insecure-api-key.", authHeader: "x-api-key", wantAuth: testAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newWSUpstream(t)
			ts := newTestServer(t, func(o *testOptions) {
				o.cfg.Chat.UpstreamURL = up.url.ResolveReference(&url.URL{Path: "/v1"})
				o.cfg.Chat.AuthHeader = tt.authHeader
				o.cfg.Chat.AuthScheme = tt.authScheme
			})
			front := httptest.NewServer(ts.srv)
			t.Cleanup(front.Close)
			tok := ts.createSession(t, "").AccessToken
			ctx, cancel := context.WithTimeout(t.Context(), wsGuard)
			defer cancel()

			c, resp, err := websocket.Dial(ctx, wsURL(front, "/chat/realtime?model=gpt-realtime"), &websocket.DialOptions{
				Subprotocols: []string{"realtime", tt.prefix + tok},
			})
			if err != nil {
				var body []byte
				if resp != nil {
					body, _ = io.ReadAll(resp.Body)
				}
				t.Fatalf("Dial: %v (body %s)", err, body)
			}
			defer c.CloseNow()

			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Errorf("status = %d, want 101", resp.StatusCode)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); !cmp.Equal(got, []string{"realtime"}) {
				t.Errorf("101 Sec-WebSocket-Protocol = %q, want [realtime]", got)
			}
			if c.Subprotocol() != "realtime" {
				t.Errorf("negotiated subprotocol = %q, want realtime", c.Subprotocol())
			}
			if headerHolds(resp.Header, tok) || headerHolds(resp.Header, testAPIKey) {
				t.Errorf("the 101 carries the token or the key: %v", resp.Header)
			}
			if resp.Header.Get(server.RequestIDHeader) == "" {
				t.Error("the 101 has no X-Request-Id")
			}

			h := up.received(t)
			if got := h.Get(tt.authHeader); got != tt.wantAuth {
				t.Errorf("upstream %s = %q, want %q", tt.authHeader, got, tt.wantAuth)
			}
			if got := h.Values("Sec-WebSocket-Protocol"); !cmp.Equal(got, []string{"realtime"}) {
				t.Errorf("upstream Sec-WebSocket-Protocol = %q, want [realtime]", got)
			}
			if headerHolds(h, tok) {
				t.Errorf("the upstream received the session token: %v", h)
			}

			// Messages both ways.
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello from upstream" {
				t.Fatalf("first message = %q, %v", msg, err)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo: hi" {
				t.Fatalf("echo = %q, %v", msg, err)
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("Close: %v", err)
			}

			line := waitAccessLine(t, ts, "/chat/*path", http.StatusSwitchingProtocols)
			if line["method"] != "GET" || line["api_key_fingerprint"] == nil {
				t.Errorf("access line = %v, want GET with the key's fingerprint", line)
			}
			if v, ok := value(scrape(t, ts), "jwtgate_http_requests_total", map[string]string{
				"route": "/chat/*path", "method": "GET", "code": "101",
			}); !ok || v != 1 {
				t.Errorf("jwtgate_http_requests_total{code=101} = %v (present %v), want 1", v, ok)
			}
			for _, secret := range []string{tok, testAPIKey} {
				if strings.Contains(ts.logs.String(), secret) {
					t.Errorf("the log holds a secret:\n%s", ts.logs)
				}
			}
		})
	}
}

// TestWebSocketRefusedCredentials refuses upgrades whose credentials are
// missing, doubled or in the wrong shape, before anything reaches the upstream.
func TestWebSocketRefusedCredentials(t *testing.T) {
	up := newWSUpstream(t)
	ts := newTestServer(t, func(o *testOptions) { o.cfg.Chat.UpstreamURL = up.url })
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name       string
		protocols  []string
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{name: "no token", protocols: []string{"realtime"}, wantStatus: 401, wantCode: "invalid_token"},
		{name: "two entries", protocols: []string{"jwtgate.bearer." + tok, "openai-insecure-api-key." + tok}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "entry and Authorization", protocols: []string{"jwtgate.bearer." + tok}, header: http.Header{"Authorization": {"Bearer " + tok}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "entry and X-API-Key", protocols: []string{"jwtgate.bearer." + tok}, header: http.Header{"X-Api-Key": {tok}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "tampered token", protocols: []string{"jwtgate.bearer." + tok + "x"}, wantStatus: 401, wantCode: "invalid_token"},
		{name: "empty token", protocols: []string{"realtime", "jwtgate.bearer."}, wantStatus: 400, wantCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), wsGuard)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(front, "/chat/realtime"), &websocket.DialOptions{
				Subprotocols: tt.protocols,
				HTTPHeader:   tt.header,
			})
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded, want a refusal")
			}
			if resp == nil {
				t.Fatalf("Dial: %v, want an HTTP refusal", err)
			}
			body, _ := io.ReadAll(resp.Body)
			wantError(t, response{status: resp.StatusCode, header: resp.Header, body: string(body)}, tt.wantStatus, tt.wantCode)
			if strings.Contains(string(body), tok) || headerHolds(resp.Header, tok) {
				t.Errorf("the refusal quotes the token")
			}
		})
	}
	select {
	case h := <-up.headers:
		t.Errorf("the upstream received a handshake: %v", h)
	default:
	}
}

// TestChatTokenSources checks where /chat/* and /sessions/* take the session
// token from.
func TestChatTokenSources(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	const completion = `{"messages":[{"role":"user","content":"hi"}]}`
	ws := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
	withWS := func(extra http.Header) http.Header {
		h := ws.Clone()
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{name: "chat: bearer", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"Authorization": {"Bearer " + tok}}, wantStatus: 200},
		{name: "chat: X-API-Key", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"X-Api-Key": {tok}}, wantStatus: 200},
		{name: "chat: both", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"Authorization": {"Bearer " + tok}, "X-Api-Key": {tok}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "chat: X-API-Key twice", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"X-Api-Key": {tok, tok}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "chat: X-API-Key not token68", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"X-Api-Key": {tok + " x"}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "chat: a real key in X-API-Key", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"X-Api-Key": {testAPIKey}}, wantStatus: 401, wantCode: "invalid_token"},
		{name: "chat: subprotocol without an upgrade", method: "POST", path: "/chat/completions", body: completion, header: http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + tok}}, wantStatus: 401, wantCode: "invalid_token"},
		{name: "chat: query", method: "POST", path: "/chat/completions?access_token=" + tok, body: completion, wantStatus: 401, wantCode: "invalid_token"},
		{name: "chat: echo refuses a WebSocket", method: "GET", path: "/chat/realtime", header: withWS(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer." + tok}}), wantStatus: 400, wantCode: "invalid_request"},
		{name: "chat: echo refuses h2c", method: "GET", path: "/chat/completions", header: http.Header{"Authorization": {"Bearer " + tok}, "Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "sessions: X-API-Key is not a token source", method: "GET", path: "/sessions/current", header: http.Header{"X-Api-Key": {tok}}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "sessions: bearer beside an API key", method: "GET", path: "/sessions/current", header: http.Header{"Authorization": {"Bearer " + tok}, "X-Api-Key": {testAPIKey}}, wantStatus: 200},
		{name: "sessions: subprotocol is not a token source", method: "GET", path: "/sessions/current", header: withWS(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + tok}}), wantStatus: 401, wantCode: "unauthorized"},
		{name: "sessions: X-API-Key still opens a session", method: "POST", path: "/sessions", header: http.Header{"X-Api-Key": {testAPIKey}}, wantStatus: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request{method: tt.method, path: tt.path, body: tt.body, headers: tt.header}
			if tt.body != "" {
				r.ctype = "application/json"
			}
			res := ts.do(t, r)
			if tt.wantCode == "" {
				if res.status != tt.wantStatus {
					t.Fatalf("status = %d, want %d (body %s)", res.status, tt.wantStatus, res.body)
				}
				return
			}
			wantError(t, res, tt.wantStatus, tt.wantCode)
			if strings.Contains(res.body, tok) || headerHolds(res.header, tok) {
				t.Error("the refusal quotes the token")
			}
		})
	}
}

// TestChatXAPIKeyNotForwarded sends the token in X-API-Key through the proxy:
// the upstream gets the real key in its header and no X-API-Key.
func TestChatXAPIKeyNotForwarded(t *testing.T) {
	seen := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *testOptions) {
		o.cfg.Chat.UpstreamURL = u
		o.cfg.Chat.AuthHeader = "Authorization"
		o.cfg.Chat.AuthScheme = "Bearer"
	})
	tok := ts.createSession(t, "").AccessToken
	res := ts.do(t, request{method: "POST", path: "/chat/v1/messages", body: `{}`, ctype: "application/json",
		headers: http.Header{"X-Api-Key": {tok}, "Anthropic-Version": {"2023-06-01"}}})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d (body %s)", res.status, res.body)
	}
	h := <-seen
	if got := h.Get("Authorization"); got != "Bearer "+testAPIKey {
		t.Errorf("upstream Authorization = %q, want the API key", got)
	}
	if got, ok := h["X-Api-Key"]; ok {
		t.Errorf("upstream X-Api-Key = %q, want none", got)
	}
	if headerHolds(h, tok) {
		t.Errorf("the upstream received the session token: %v", h)
	}
}
