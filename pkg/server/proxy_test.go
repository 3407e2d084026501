package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/token"
)

const (
	testAPIKey       = "sk-test-proxy-2f8e41c7a9d05b36e1"
	testSessionToken = "eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbi10b2tlbi11bmRlci10ZXN0.c2lnbmF0dXJl"
	// guard bounds a wait that only a broken proxy would exhaust; no test
	// asserts how long anything takes.
	guard = 10 * time.Second
)

// syncBuffer is a log sink that handlers and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// seenRequest is what a test upstream received.
type seenRequest struct {
	Method   string
	Path     string
	RawQuery string
	Host     string
	Header   http.Header
	Body     string
}

// recordingUpstream answers every request with a small JSON body and keeps
// what it received.
type recordingUpstream struct {
	srv   *httptest.Server
	url   *url.URL
	count atomic.Int64
	seen  chan seenRequest
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{seen: make(chan seenRequest, 64)}
	u.srv = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		u.seen <- seenRequest{
			Method:   r.Method,
			Path:     r.URL.Path,
			RawQuery: r.URL.RawQuery,
			Host:     r.Host,
			Header:   r.Header.Clone(),
			Body:     string(body),
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	u.url = mustParseURL(t, u.srv.URL)
	return u
}

// next returns the request the upstream received last; it fails the test if
// there was none.
func (u *recordingUpstream) next(t *testing.T) seenRequest {
	t.Helper()
	select {
	case r := <-u.seen:
		return r
	default:
		t.Fatal("upstream received no request")
		return seenRequest{}
	}
}

func newUpstream(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// release closes c when the test ends, before the servers created so far
// close: an upstream handler that waits for something only a broken proxy
// would fail to do then lets the test finish and report.
func release(t testing.TB, c chan struct{}) {
	t.Helper()
	t.Cleanup(func() { close(c) })
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return u
}

// testChatConfig returns the defaults of chat.* for upstream u.
func testChatConfig(u *url.URL) ChatConfig {
	return ChatConfig{
		UpstreamURL:           u,
		AuthHeader:            "Authorization",
		AuthScheme:            "Bearer",
		ConnectTimeout:        guard,
		ResponseHeaderTimeout: guard,
		IdleTimeout:           time.Minute,
		MaxStreamDuration:     10 * time.Minute,
		MaxBodyBytes:          1 << 20,
	}
}

// testClaims stands in for the auth middleware: it puts verified claims on the
// request context, as ginauth does.
func testClaims(c *gin.Context) {
	claims := token.Claims{ID: "jti", APIKey: testAPIKey, APIKeyFingerprint: token.Fingerprint(testAPIKey)}
	c.Request = c.Request.WithContext(token.NewContext(c.Request.Context(), claims))
	c.Next()
}

// newTestFront serves the chat proxy for cfg behind testClaims on a loopback
// port. Its log is checked at the end of the test: it must never hold the API
// key or the session token.
func newTestFront(t testing.TB, cfg ChatConfig, middleware ...gin.HandlerFunc) (*httptest.Server, *syncBuffer) {
	t.Helper()
	return newMeteredFront(t, cfg, nil, middleware...)
}

// newMeteredFront is newTestFront with the proxy reporting to m.
func newMeteredFront(t testing.TB, cfg ChatConfig, m *upstreamMetrics, middleware ...gin.HandlerFunc) (*httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() { // registered first, so it runs after the servers are closed
		for _, secret := range []string{testAPIKey, testSessionToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log contains a secret:\n%s", logs)
			}
		}
	})
	h, err := newChatProxy(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), m)
	if err != nil {
		t.Fatalf("newChatProxy: %v", err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	if middleware == nil {
		middleware = []gin.HandlerFunc{testClaims}
	}
	r.Use(middleware...)
	r.Any("/chat/*path", h)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, logs
}

// newChatRequest returns a request to the front that carries the session token.
func newChatRequest(t testing.TB, ctx context.Context, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testSessionToken)
	return req
}

// do sends req and returns the response with its whole body. It gives up at
// the guard timeout, so a proxy that hangs fails the test instead of stalling it.
func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), guard)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, string(body)
}

// wantError checks that resp is a JSON error with status and code, and that
// nothing in it names the upstream or carries a secret.
func wantError(t *testing.T, resp *http.Response, body string, status int, code string, upstream *url.URL) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("error body = %+v, want error %q with a description", e, code)
	}
	leaks := []string{testAPIKey, testSessionToken, "127.0.0.1"}
	if upstream != nil {
		leaks = append(leaks, upstream.Host, upstream.Port())
	}
	for _, s := range leaks {
		if strings.Contains(body, s) {
			t.Errorf("error body %q contains %q", body, s)
		}
	}
}

func TestProxyPutsAPIKeyInUpstreamRequest(t *testing.T) {
	tests := []struct {
		name, header, scheme string
		wantHeader, wantVal  string
	}{
		{"bearer in Authorization", "Authorization", "Bearer", "Authorization", "Bearer " + testAPIKey},
		{"empty header means Authorization", "", "Bearer", "Authorization", "Bearer " + testAPIKey},
		{"bare key in x-api-key", "x-api-key", "", "X-Api-Key", testAPIKey},
		{"custom scheme", "api-key", "Key", "Api-Key", "Key " + testAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(up.url)
			cfg.AuthHeader, cfg.AuthScheme = tt.header, tt.scheme
			front, _ := newTestFront(t, cfg)

			req := newChatRequest(t, t.Context(), http.MethodPost, front.URL+"/chat/completions", strings.NewReader(`{"model":"m"}`))
			req.Header.Set("X-API-Key", "client-supplied-key")
			if tt.header != "" && !strings.EqualFold(tt.header, "Authorization") {
				req.Header.Set(tt.header, "client-supplied-key") // replaced, never appended to
			}
			req.Header.Set("Cookie", "jwtgate_session="+testSessionToken)
			req.Header.Set("X-Request-Id", "req-1")
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusOK || body != `{"ok":true}` {
				t.Fatalf("response = %d %q, want 200 from the upstream", resp.StatusCode, body)
			}

			got := up.next(t)
			if v := got.Header.Values(tt.wantHeader); len(v) != 1 || v[0] != tt.wantVal {
				t.Errorf("upstream %s = %q, want [%q]", tt.wantHeader, v, tt.wantVal)
			}
			if tt.wantHeader != "Authorization" && got.Header.Get("Authorization") != "" {
				t.Errorf("upstream got Authorization %q, want none", got.Header.Get("Authorization"))
			}
			for k, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, testSessionToken) || strings.Contains(v, "client-supplied-key") {
						t.Errorf("upstream header %s = %q carries a client credential", k, v)
					}
				}
			}
			if c := got.Header.Get("Cookie"); c != "" {
				t.Errorf("upstream Cookie = %q, want none", c)
			}
			if got.Header.Get("X-Request-Id") != "req-1" {
				t.Errorf("upstream X-Request-Id = %q, want the client's req-1", got.Header.Get("X-Request-Id"))
			}
			if got.Body != `{"model":"m"}` {
				t.Errorf("upstream body = %q", got.Body)
			}
			frontHost := mustParseURL(t, front.URL).Host
			wantXF := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": frontHost}
			for k, want := range wantXF {
				if v := got.Header.Get(k); v != want {
					t.Errorf("upstream %s = %q, want %q", k, v, want)
				}
			}
			if got.Host != up.url.Host {
				t.Errorf("upstream Host = %q, want %q", got.Host, up.url.Host)
			}
		})
	}
}

func TestProxyReplacesClientForwardedHeaders(t *testing.T) {
	up := newRecordingUpstream(t)
	front, _ := newTestFront(t, testChatConfig(up.url))
	req := newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	do(t, req)
	got := up.next(t)
	if v := got.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", v)
	}
	if v := got.Header.Get("X-Forwarded-Host"); v == "evil.example" {
		t.Errorf("X-Forwarded-Host = %q, the client's value", v)
	}
	if v := got.Header.Get("Forwarded"); v != "" {
		t.Errorf("Forwarded = %q, want none", v)
	}
}

func TestProxyDropsHopByHopHeaders(t *testing.T) {
	up := newRecordingUpstream(t)
	front, _ := newTestFront(t, testChatConfig(up.url))
	req := newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil)
	req.Header.Set("Connection", "X-Foo")
	req.Header.Set("X-Foo", "named by Connection")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("TE", "deflate")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0")
	req.Header.Set("X-Bar", "end to end")
	do(t, req)

	got := up.next(t)
	for _, h := range []string{"X-Foo", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("upstream got hop-by-hop header %s: %q", h, v)
		}
	}
	if v := got.Header.Get("Connection"); strings.Contains(v, "X-Foo") {
		t.Errorf("upstream Connection = %q, want the client's dropped", v)
	}
	if v := got.Header.Get("X-Bar"); v != "end to end" {
		t.Errorf("upstream X-Bar = %q, want the end-to-end header kept", v)
	}
}

func TestProxyJoinsPathAndKeepsQuery(t *testing.T) {
	tests := []struct {
		name      string
		base      string // path and query appended to the upstream's address
		target    string // request path and query after the front's address
		wantPath  string
		wantQuery string
	}{
		{"no base path", "", "/chat/v1/chat/completions", "/v1/chat/completions", ""},
		{"base path", "/v1", "/chat/completions", "/v1/completions", ""},
		{"base path with slash", "/v1/", "/chat/completions", "/v1/completions", ""},
		{"query kept", "/v1", "/chat/models?limit=2&after=m%201", "/v1/models", "limit=2&after=m%201"},
		{"trailing slash kept", "/v1", "/chat/models/", "/v1/models/", ""},
		{"root", "/v1", "/chat/", "/v1/", ""},
		{"encoded space", "", "/chat/files/a%20b", "/files/a b", ""},
		{"base query merged", "/openai?api-version=2024-06-01", "/chat/completions?x=1", "/openai/completions", "api-version=2024-06-01&x=1"},
		{"base query alone", "/openai?api-version=2024-06-01", "/chat/completions", "/openai/completions", "api-version=2024-06-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.srv.URL+tt.base)))
			resp, body := do(t, newChatRequest(t, t.Context(), http.MethodGet, front.URL+tt.target, nil))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d (%s), want 200", resp.StatusCode, body)
			}
			got := up.next(t)
			if got.Path != tt.wantPath || got.RawQuery != tt.wantQuery {
				t.Errorf("upstream got path %q query %q, want %q %q", got.Path, got.RawQuery, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestProxyPassesMethods(t *testing.T) {
	up := newRecordingUpstream(t)
	front, _ := newTestFront(t, testChatConfig(up.url))
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			var body io.Reader
			if method != http.MethodGet {
				body = strings.NewReader(method + " body")
			}
			resp, _ := do(t, newChatRequest(t, t.Context(), method, front.URL+"/chat/items/7?v=1", body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			got := up.next(t)
			want := seenRequest{Method: method, Path: "/items/7", RawQuery: "v=1", Host: up.url.Host}
			if body != nil {
				want.Body = method + " body"
			}
			got.Header = nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("upstream request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProxyStreamsEvents proves that responses are not buffered: the upstream
// writes the second event only after the client has read the first. A
// response with a Content-Length is the case that needs clientWriter's flush
// after each write; ReverseProxy flushes the other two on its own.
func TestProxyStreamsEvents(t *testing.T) {
	tests := []struct {
		name, contentType string
		fixedLength       bool
	}{
		{"server-sent events", "text/event-stream", false},
		{"chunked", "application/x-ndjson", false},
		{"fixed length", "application/octet-stream", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientGotFirst := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				if tt.fixedLength {
					w.Header().Set("Content-Length", "18")
				}
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				select {
				case <-clientGotFirst:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "data: 2\n\n")
			})
			front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.URL)))

			ctx, cancel := context.WithTimeout(t.Context(), guard)
			defer cancel()
			resp, err := http.DefaultClient.Do(newChatRequest(t, ctx, http.MethodPost, front.URL+"/chat/completions", strings.NewReader(`{"stream":true}`)))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.contentType)
			}
			events := bufio.NewReader(resp.Body)
			if first := readEvent(t, events); first != "data: 1" {
				t.Fatalf("first event = %q, want data: 1", first)
			}
			close(clientGotFirst)
			if second := readEvent(t, events); second != "data: 2" {
				t.Fatalf("second event = %q, want data: 2", second)
			}
			if rest, err := io.ReadAll(events); err != nil || len(rest) != 0 {
				t.Errorf("after the events: %q, %v; want a clean end", rest, err)
			}
		})
	}
}

// readEvent reads one server-sent event ("data: x\n\n") and returns its line.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading event (a buffering proxy ends here at the guard timeout): %v", err)
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("event not terminated: %q, %v", blank, err)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestProxyStreamsRequestBody(t *testing.T) {
	gotFirst := make(chan string, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		line, err := bufio.NewReader(r.Body).ReadString('\n')
		if err != nil {
			return
		}
		gotFirst <- line
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.URL)))

	pr, pw := io.Pipe()
	defer pw.Close()
	req := newChatRequest(t, t.Context(), http.MethodPost, front.URL+"/chat/uploads", pr)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	io.WriteString(pw, "first line\n")
	// The body is still open: the upstream can only see its first line if the
	// proxy streams the request body.
	select {
	case line := <-gotFirst:
		if line != "first line\n" {
			t.Errorf("upstream read %q", line)
		}
	case <-time.After(guard):
		t.Fatal("upstream did not receive the first line while the body was open")
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("request: %v", err)
	}
}

func TestProxyClientDisconnectCancelsUpstream(t *testing.T) {
	tests := []struct {
		name        string
		sendHeaders bool
		wantLog     string
	}{
		{"before response headers", false, "chat client went away"},
		{"during the stream", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, canceled := make(chan struct{}), make(chan struct{})
			released := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.sendHeaders {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "data: 1\n\n")
					http.NewResponseController(w).Flush()
				}
				close(started)
				select {
				case <-r.Context().Done():
					close(canceled)
				case <-released:
				}
			})
			front, logs := newTestFront(t, testChatConfig(mustParseURL(t, up.URL)))
			release(t, released)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req := newChatRequest(t, ctx, http.MethodPost, front.URL+"/chat/completions", nil)
			errc := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			select {
			case <-started:
			case <-time.After(guard):
				t.Fatal("upstream never received the request")
			}
			cancel()
			select {
			case <-canceled:
			case <-time.After(guard):
				t.Fatal("upstream request was not canceled after the client went away")
			}
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error = %v, want context.Canceled", err)
			}
			front.Close() // waits for the handler, so its log is complete
			l := logs.String()
			if strings.Contains(l, "chat upstream request failed") || !strings.Contains(l, tt.wantLog) {
				t.Errorf("a client that went away is not an upstream failure; log:\n%s", l)
			}
		})
	}
}

func TestProxyUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	upURL := mustParseURL(t, "http://"+addr+"/v1")
	front, logs := newTestFront(t, testChatConfig(upURL))

	resp, body := do(t, newChatRequest(t, t.Context(), http.MethodPost, front.URL+"/chat/completions", strings.NewReader(`{}`)))
	wantError(t, resp, body, http.StatusBadGateway, "upstream_unavailable", upURL)
	if l := logs.String(); !strings.Contains(l, "chat upstream request failed") || !strings.Contains(l, token.Fingerprint(testAPIKey)) {
		t.Errorf("log does not record the failure with the key's fingerprint:\n%s", l)
	}
}

func TestProxyResponseHeaderTimeout(t *testing.T) {
	released := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-released:
		case <-r.Context().Done():
		}
	})
	cfg := testChatConfig(mustParseURL(t, up.URL))
	cfg.ResponseHeaderTimeout = 50 * time.Millisecond
	front, _ := newTestFront(t, cfg)
	release(t, released)

	resp, body := do(t, newChatRequest(t, t.Context(), http.MethodPost, front.URL+"/chat/completions", nil))
	wantError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout", cfg.UpstreamURL)
}

func TestProxyMaxStreamDurationBeforeHeaders(t *testing.T) {
	released := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-released:
		case <-r.Context().Done():
		}
	})
	cfg := testChatConfig(mustParseURL(t, up.URL))
	cfg.ResponseHeaderTimeout = 0
	cfg.MaxStreamDuration = 50 * time.Millisecond
	front, _ := newTestFront(t, cfg)
	release(t, released)

	resp, body := do(t, newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil))
	wantError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout", cfg.UpstreamURL)
}

// TestProxyEndsStalledStream covers both limits on a running stream: a silent
// upstream (idle timeout) and a stream that runs too long.
func TestProxyEndsStalledStream(t *testing.T) {
	tests := []struct {
		name       string
		idle, max  time.Duration
		wantReason string
	}{
		{"idle timeout", 50 * time.Millisecond, 0, "reason=idle_timeout"},
		{"max stream duration", 0, 200 * time.Millisecond, "reason=max_stream_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canceled := make(chan struct{})
			released := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				select { // silent until the proxy gives up
				case <-r.Context().Done():
					close(canceled)
				case <-released:
				}
			})
			cfg := testChatConfig(mustParseURL(t, up.URL))
			cfg.IdleTimeout, cfg.MaxStreamDuration = tt.idle, tt.max
			front, logs := newTestFront(t, cfg)
			release(t, released)

			ctx, cancel := context.WithTimeout(t.Context(), guard)
			defer cancel()
			resp, err := http.DefaultClient.Do(newChatRequest(t, ctx, http.MethodPost, front.URL+"/chat/completions", nil))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			events := bufio.NewReader(resp.Body)
			if ev := readEvent(t, events); ev != "data: 1" {
				t.Fatalf("first event = %q", ev)
			}
			rest, err := io.ReadAll(events)
			// The proxy aborts the response, so the client can tell a cut
			// stream from a finished one.
			if !errors.Is(err, io.ErrUnexpectedEOF) || len(rest) != 0 {
				t.Errorf("after a stalled stream: %q, %v; want nothing more and io.ErrUnexpectedEOF", rest, err)
			}
			select {
			case <-canceled:
			case <-time.After(guard):
				t.Fatal("upstream request was not canceled")
			}
			if !strings.Contains(logs.String(), tt.wantReason) {
				t.Errorf("log does not give %s:\n%s", tt.wantReason, logs)
			}
		})
	}
}

// TestIdleBody checks the idle timer in a bubble: it fires only while a Read
// waits on the upstream, and a slow reader does not count as a silent upstream.
func TestIdleBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		var fired atomic.Bool
		var body upstreamBody
		body.wrap(&chatProxy{}, &http.Response{Body: pr}, time.Minute, func() {
			fired.Store(true)
			pw.CloseWithError(errIdleTimeout)
		})
		defer body.Close()

		go func() {
			time.Sleep(59 * time.Second)
			io.WriteString(pw, "a")
		}()
		buf := make([]byte, 8)
		n, err := body.Read(buf)
		if err != nil || string(buf[:n]) != "a" {
			t.Fatalf("Read = %q, %v; want a", buf[:n], err)
		}
		time.Sleep(10 * time.Minute) // a slow client: no Read in progress
		synctest.Wait()
		if fired.Load() {
			t.Fatal("idle timer fired while no Read was waiting")
		}

		n, err = body.Read(buf) // the upstream stays silent
		if !errors.Is(err, errIdleTimeout) || n != 0 {
			t.Fatalf("Read = %d, %v; want errIdleTimeout", n, err)
		}
		if !fired.Load() {
			t.Fatal("Read ended without the idle timer firing")
		}
		if !errors.Is(body.err, errIdleTimeout) {
			t.Errorf("body kept error %v, want errIdleTimeout", body.err)
		}
	})
}

// rawGet sends target exactly as given, which net/http's client would not
// always do, and returns the response and its body.
func rawGet(t *testing.T, front *httptest.Server, target string) (*http.Response, string) {
	t.Helper()
	addr := mustParseURL(t, front.URL).Host
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", target, addr, testSessionToken)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

func TestProxyRefusesEscapingPaths(t *testing.T) {
	up := newRecordingUpstream(t)
	front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.srv.URL+"/v1")))
	tests := []struct {
		name, target string
	}{
		{"dot dot", "/chat/../sessions"},
		{"dot dot inside", "/chat/a/../../b"},
		{"dot dot at end", "/chat/a/.."},
		{"dot", "/chat/./x"},
		{"dot at end", "/chat/a/."},
		{"dot dot with parameter", "/chat/..;/sessions"},
		{"encoded dots", "/chat/%2e%2e/x"},
		{"encoded dots upper case", "/chat/%2E%2E/x"},
		{"one encoded dot", "/chat/.%2e/x"},
		{"encoded slash", "/chat/a%2fb"},
		{"encoded slash upper case", "/chat/a%2Fb"},
		{"encoded slash in prefix", "/chat%2f..%2fsessions"},
		{"double slash", "/chat//x"},
		{"double slash inside", "/chat/a//b"},
		{"backslash", `/chat/a\b`},
		{"encoded backslash", "/chat/a%5cb"},
		{"encoded percent", "/chat/%252e%252e/x"},
		{"encoded NUL", "/chat/a%00b"},
		{"encoded newline", "/chat/a%0d%0aX-Injected:%201"},
		{"encoded DEL", "/chat/a%7f"},
		{"three dots", "/chat/.../x"},
		{"dot dot space", "/chat/..%20/x"},
		{"space dot dot", "/chat/%20../x"},
		{"dot dot tab", "/chat/..%09/x"},
		{"dot dot no-break space", "/chat/..%C2%A0/x"},
		{"dot space dot", "/chat/.%20./x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawGet(t, front, tt.target)
			wantError(t, resp, body, http.StatusBadRequest, "invalid_request", up.url)
		})
	}
	if n := up.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want none", n)
	}

	// The same harness does forward a clean path.
	resp, body := rawGet(t, front, "/chat/a/b.c/..d/a%20b/%20?q=%2e")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("clean path: status %d (%s), want 200", resp.StatusCode, body)
	}
	if got := up.next(t); got.Path != "/v1/a/b.c/..d/a b/ " || got.RawQuery != "q=%2e" {
		t.Errorf("clean path reached the upstream as %q ? %q", got.Path, got.RawQuery)
	}
}

// FuzzValidRest checks that every path validRest accepts is one that cleaning
// leaves alone, so no accepted path can climb out of the upstream base path.
func FuzzValidRest(f *testing.F) {
	for _, s := range []string{"/", "/v1/chat", "/a/", "/../x", "/a/./b", "//", "/a/..;x/", `/a\b`, "/a%2e", "/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		if !validRest(rest) {
			return
		}
		if rest != "/" && path.Clean(rest) != strings.TrimSuffix(rest, "/") {
			t.Errorf("validRest(%q) = true, but it cleans to %q", rest, path.Clean(rest))
		}
		for seg := range strings.SplitSeq(rest, "/") {
			if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
				t.Errorf("validRest(%q) = true with dot segment %q", rest, seg)
			}
		}
	})
}

func TestProxyAllowedPaths(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		allowed []string
		target  string
		want    int
	}{
		{"exact prefix", "", []string{"/v1/chat", "/v1/models/"}, "/chat/v1/chat", http.StatusOK},
		{"under prefix", "", []string{"/v1/chat", "/v1/models/"}, "/chat/v1/chat/completions", http.StatusOK},
		{"prefix given with slash", "", []string{"/v1/chat", "/v1/models/"}, "/chat/v1/models", http.StatusOK},
		{"not on a segment boundary", "", []string{"/v1/chat", "/v1/models/"}, "/chat/v1/chatty", http.StatusNotFound},
		{"other path", "", []string{"/v1/chat", "/v1/models/"}, "/chat/v1/embeddings", http.StatusNotFound},
		{"root", "", []string{"/v1/chat"}, "/chat/", http.StatusNotFound},
		{"prefixes match the path after /chat", "/v1", []string{"/chat"}, "/chat/chat/completions", http.StatusOK},
		{"the upstream's base path is not part of it", "/v1", []string{"/v1/chat"}, "/chat/chat/completions", http.StatusNotFound},
		{"path outside", "/v1", []string{"/chat"}, "/chat/files", http.StatusNotFound},
		{"the README's example", "/api", []string{"/messages"}, "/chat/messages", http.StatusOK},
		{"slash allows all", "/v1", []string{"/"}, "/chat/files", http.StatusOK},
		{"empty list allows all", "", nil, "/chat/anything/at/all", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(mustParseURL(t, up.srv.URL+tt.base))
			cfg.AllowedPaths = tt.allowed
			front, _ := newTestFront(t, cfg)
			resp, body := do(t, newChatRequest(t, t.Context(), http.MethodPost, front.URL+tt.target, strings.NewReader("{}")))
			if tt.want == http.StatusNotFound {
				wantError(t, resp, body, http.StatusNotFound, "invalid_request", up.url)
				if n := up.count.Load(); n != 0 {
					t.Errorf("upstream received %d requests, want none", n)
				}
				return
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if n := up.count.Load(); n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
		})
	}
}

// unsized hides the length of a reader, so the client sends it chunked.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestProxyBodyLimit(t *testing.T) {
	const limit = 16
	tests := []struct {
		name       string
		body       io.Reader
		want       int
		wantNoCall bool // refused before the upstream is contacted
	}{
		{"at the limit", strings.NewReader(strings.Repeat("a", limit)), http.StatusOK, false},
		{"at the limit, chunked", unsized{strings.NewReader(strings.Repeat("a", limit))}, http.StatusOK, false},
		{"Content-Length over the limit", strings.NewReader(strings.Repeat("a", limit+1)), http.StatusRequestEntityTooLarge, true},
		{"chunked over the limit", unsized{strings.NewReader(strings.Repeat("a", 64<<10))}, http.StatusRequestEntityTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(up.url)
			cfg.MaxBodyBytes = limit
			front, _ := newTestFront(t, cfg)
			resp, body := do(t, newChatRequest(t, t.Context(), http.MethodPost, front.URL+"/chat/completions", tt.body))
			if tt.want == http.StatusRequestEntityTooLarge {
				wantError(t, resp, body, tt.want, "invalid_request", up.url)
			} else if resp.StatusCode != tt.want {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.want)
			} else if got := up.next(t); len(got.Body) != limit {
				t.Errorf("upstream got %d bytes, want %d", len(got.Body), limit)
			}
			if n := up.count.Load(); tt.wantNoCall && n != 0 {
				t.Errorf("upstream received %d requests, want none", n)
			}
		})
	}
}

// TestProxyBodyLimitBeforeReading checks that a declared Content-Length over
// the limit is answered at once: the client has not sent a byte of its body.
func TestProxyBodyLimitBeforeReading(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg := testChatConfig(up.url)
	front, _ := newTestFront(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	pr, pw := io.Pipe()
	context.AfterFunc(ctx, func() { pw.Close() }) // lets the client give up at the guard
	req := newChatRequest(t, ctx, http.MethodPost, front.URL+"/chat/completions", pr)
	req.ContentLength = cfg.MaxBodyBytes + 1 // the body stays unsent until the test ends
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request (a proxy that waits for the body ends here at the guard timeout): %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp, string(body), http.StatusRequestEntityTooLarge, "invalid_request", up.url)
	if n := up.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want none", n)
	}
}

func TestProxySetCookie(t *testing.T) {
	tests := []struct {
		name  string
		allow bool
		want  []string
	}{
		{"dropped by default", false, nil},
		{"kept when allowed", true, []string{"upstream=1; Path=/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Set-Cookie", "upstream=1; Path=/")
				w.Header().Set("X-Upstream", "yes")
				io.WriteString(w, "{}")
			})
			cfg := testChatConfig(mustParseURL(t, up.URL))
			cfg.AllowSetCookie = tt.allow
			front, _ := newTestFront(t, cfg)
			resp, _ := do(t, newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil))
			if diff := cmp.Diff(tt.want, resp.Header.Values("Set-Cookie")); diff != "" {
				t.Errorf("Set-Cookie (-want +got):\n%s", diff)
			}
			if resp.Header.Get("X-Upstream") != "yes" {
				t.Error("other upstream headers were not passed through")
			}
		})
	}
}

func TestProxyWithoutClaims(t *testing.T) {
	up := newRecordingUpstream(t)
	noClaims := func(c *gin.Context) { c.Next() }
	front, _ := newTestFront(t, testChatConfig(up.url), noClaims)
	resp, body := do(t, newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil))
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_token", up.url)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
	if n := up.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want none", n)
	}
}

func TestNewChatProxyConfig(t *testing.T) {
	good := mustParseURL(t, "http://127.0.0.1:9/v1")
	tests := []struct {
		name    string
		modify  func(*ChatConfig)
		wantKey string // the key the error names; empty: no error
	}{
		{"defaults", func(*ChatConfig) {}, ""},
		{"zero limits", func(c *ChatConfig) {
			c.ConnectTimeout, c.ResponseHeaderTimeout, c.IdleTimeout, c.MaxStreamDuration, c.MaxBodyBytes = 0, 0, 0, 0, 0
		}, ""},
		{"https with query", func(c *ChatConfig) { c.UpstreamURL = mustParseURL(t, "https://example.test/openai?api-version=1") }, ""},
		{"allowed paths", func(c *ChatConfig) { c.AllowedPaths = []string{"/", "/v1/chat", "/v1/models/"} }, ""},
		{"no URL", func(c *ChatConfig) { c.UpstreamURL = nil }, "chat.upstream_url"},
		{"relative URL", func(c *ChatConfig) { c.UpstreamURL = mustParseURL(t, "/v1") }, "chat.upstream_url"},
		{"other scheme", func(c *ChatConfig) { c.UpstreamURL = mustParseURL(t, "ftp://127.0.0.1/") }, "chat.upstream_url"},
		{"user info", func(c *ChatConfig) { c.UpstreamURL = mustParseURL(t, "http://user:pw@127.0.0.1/") }, "chat.upstream_url"},
		{"fragment", func(c *ChatConfig) { c.UpstreamURL = mustParseURL(t, "http://127.0.0.1/#x") }, "chat.upstream_url"},
		{"header name with space", func(c *ChatConfig) { c.AuthHeader = "X Api Key" }, "chat.upstream_auth_header"},
		{"header name with colon", func(c *ChatConfig) { c.AuthHeader = "X-Key:" }, "chat.upstream_auth_header"},
		{"scheme with space", func(c *ChatConfig) { c.AuthScheme = "Bearer x" }, "chat.upstream_auth_scheme"},
		{"negative connect timeout", func(c *ChatConfig) { c.ConnectTimeout = -1 }, "chat.connect_timeout"},
		{"negative header timeout", func(c *ChatConfig) { c.ResponseHeaderTimeout = -1 }, "chat.response_header_timeout"},
		{"negative idle timeout", func(c *ChatConfig) { c.IdleTimeout = -1 }, "chat.idle_timeout"},
		{"negative stream duration", func(c *ChatConfig) { c.MaxStreamDuration = -1 }, "chat.max_stream_duration"},
		{"negative body limit", func(c *ChatConfig) { c.MaxBodyBytes = -1 }, "chat.max_body_bytes"},
		{"relative allowed path", func(c *ChatConfig) { c.AllowedPaths = []string{"v1/chat"} }, "chat.allowed_paths"},
		{"unclean allowed path", func(c *ChatConfig) { c.AllowedPaths = []string{"/v1/../admin"} }, "chat.allowed_paths"},
		{"empty allowed path", func(c *ChatConfig) { c.AllowedPaths = []string{""} }, "chat.allowed_paths"},
		{"dots-only allowed path", func(c *ChatConfig) { c.AllowedPaths = []string{"/.../x"} }, "chat.allowed_paths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testChatConfig(good)
			tt.modify(&cfg)
			h, err := newChatProxy(cfg, nil, nil)
			if tt.wantKey == "" {
				if err != nil || h == nil {
					t.Fatalf("newChatProxy = %v, %v; want a handler", h, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantKey+":") {
				t.Fatalf("newChatProxy error = %v, want one naming %s", err, tt.wantKey)
			}
		})
	}
}

// TestChatProxyTransport checks the transport settings no loopback test can
// observe: environment proxies are ignored (they never apply to 127.0.0.1), and
// bodies pass through without transparent decompression.
func TestChatProxyTransport(t *testing.T) {
	cfg := testChatConfig(mustParseURL(t, "https://chat.example.test/v1"))
	cfg.ResponseHeaderTimeout = 7 * time.Second
	p, err := buildChatProxy(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := p.rp.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", p.rp.Transport)
	}
	if tr == http.DefaultTransport {
		t.Error("the proxy changes http.DefaultTransport instead of a clone")
	}
	if tr.Proxy != nil {
		t.Error("transport uses a proxy from the environment")
	}
	if !tr.DisableCompression {
		t.Error("transport decompresses upstream responses")
	}
	if tr.ResponseHeaderTimeout != cfg.ResponseHeaderTimeout {
		t.Errorf("ResponseHeaderTimeout = %s, want %s", tr.ResponseHeaderTimeout, cfg.ResponseHeaderTimeout)
	}
	if p.rp.FlushInterval != 0 {
		t.Errorf("FlushInterval = %s, want 0 (clientWriter flushes each write)", p.rp.FlushInterval)
	}
}
