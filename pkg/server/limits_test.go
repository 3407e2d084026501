package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// limitedClaims stands in for the bearer middleware: the request carries a
// session with the limits lim (JSON).
func limitedClaims(t testing.TB, lim string) gin.HandlerFunc {
	t.Helper()
	l, err := token.ParseLimits([]byte(lim))
	if err != nil {
		t.Fatalf("ParseLimits(%s): %v", lim, err)
	}
	claims := token.Claims{ID: "jti", APIKey: testAPIKey, APIKeyFingerprint: token.Fingerprint(testAPIKey), Limits: l}
	return func(c *gin.Context) {
		c.Request = c.Request.WithContext(token.NewContext(c.Request.Context(), claims))
		c.Next()
	}
}

func TestLimitsOnChat(t *testing.T) {
	const (
		models = `{"models":["gpt-4o-mini","claude-*"]}`
		capped = `{"max_output_tokens":1024}`
		paths  = `{"paths":["/chat/completions","/v1/messages"]}`
		all    = `{"models":["gpt-4o-mini"],"paths":["/chat/completions","/responses"],"max_output_tokens":1024}`
	)
	chatBody := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi \u00e9 \"there\""}],"temperature":0.5}`
	type want struct {
		status int
		code   string // error code; empty: forwarded
		body   string // what the upstream receives; empty: the body sent
	}
	tests := []struct {
		name    string
		limits  string
		method  string
		path    string
		header  http.Header
		body    string
		chunked bool
		want    want
	}{
		{name: "no limits", limits: `{"total_tokens":5}`, path: "/chat/chat/completions", body: `not json`, want: want{status: 200}},

		{name: "allowed path", limits: paths, path: "/chat/chat/completions", body: chatBody, want: want{status: 200}},
		{name: "under an allowed path", limits: paths, path: "/chat/v1/messages/count_tokens", body: chatBody, want: want{status: 200}},
		{name: "path not allowed", limits: paths, path: "/chat/files", body: `{}`, want: want{403, codePathNotAllowed, ""}},
		{name: "not on a segment boundary", limits: paths, path: "/chat/chat/completionsx", body: `{}`, want: want{403, codePathNotAllowed, ""}},
		{name: "GET not allowed", limits: paths, method: http.MethodGet, path: "/chat/models", want: want{403, codePathNotAllowed, ""}},
		{name: "WebSocket upgrade not allowed", limits: paths, method: http.MethodGet, path: "/chat/realtime",
			header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
			want:   want{403, codePathNotAllowed, ""}},
		{name: "dot segments never match", limits: paths, path: "/chat/chat/completions/../../files", body: `{}`, want: want{403, codePathNotAllowed, ""}},

		{name: "allowed model, body unchanged", limits: models, path: "/chat/chat/completions", body: chatBody, want: want{status: 200}},
		{name: "allowed by prefix", limits: models, path: "/chat/v1/messages", body: `{"model":"claude-3-5-haiku","max_tokens":10}`, want: want{status: 200}},
		{name: "model not allowed", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o","messages":[]}`, want: want{403, codeModelNotAllowed, ""}},
		{name: "model last", limits: models, path: "/chat/chat/completions", body: `{"messages":[{"model":"gpt-4o-mini"}],"model":"o1"}`, want: want{403, codeModelNotAllowed, ""}},
		{name: "escaped model name", limits: models, path: "/chat/chat/completions", body: `{"mod\u0065l":"o1"}`, want: want{403, codeModelNotAllowed, ""}},
		{name: "escaped model value", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o-min\u0069"}`, want: want{status: 200}},
		{name: "model twice", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o-mini","model":"o1"}`, want: want{400, codeInvalidRequest, ""}},
		{name: "model twice, escaped", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o-mini","mod\u0065l":"o1"}`, want: want{400, codeInvalidRequest, ""}},
		{name: "no model", limits: models, path: "/chat/chat/completions", body: `{"messages":[]}`, want: want{400, codeInvalidRequest, ""}},
		{name: "model not a string", limits: models, path: "/chat/chat/completions", body: `{"model":["gpt-4o-mini"]}`, want: want{400, codeInvalidRequest, ""}},
		{name: "not JSON", limits: models, path: "/chat/audio/transcriptions", header: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}},
			body: "--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--x--\r\n", want: want{400, codeInvalidRequest, ""}},
		{name: "malformed JSON", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o-mini",`, want: want{400, codeInvalidRequest, ""}},
		{name: "trailing data", limits: models, path: "/chat/chat/completions", body: `{"model":"gpt-4o-mini"} {"model":"o1"}`, want: want{400, codeInvalidRequest, ""}},
		{name: "invalid UTF-8", limits: models, path: "/chat/chat/completions", body: "{\"model\":\"gpt-4o-mini\",\"x\":\"\xff\"}", want: want{400, codeInvalidRequest, ""}},
		{name: "array", limits: models, path: "/chat/chat/completions", body: `[{"model":"o1"}]`, want: want{400, codeInvalidRequest, ""}},
		{name: "no body is not subject to models", limits: models, method: http.MethodGet, path: "/chat/models", want: want{status: 200}},
		{name: "empty body is not subject to models", limits: models, path: "/chat/chat/completions", body: "", chunked: true, want: want{status: 200}},
		{name: "compressed body", limits: models, path: "/chat/chat/completions", header: http.Header{"Content-Encoding": {"gzip"}}, body: "\x1f\x8b", want: want{400, codeInvalidRequest, ""}},

		{name: "cap added to chat completions", limits: capped, path: "/chat/chat/completions", body: chatBody,
			want: want{status: 200, body: chatBody[:len(chatBody)-1] + `,"max_completion_tokens":1024}`}},
		{name: "cap added to responses", limits: capped, path: "/chat/responses", body: `{"model":"gpt-4o","input":"hi"}`,
			want: want{status: 200, body: `{"model":"gpt-4o","input":"hi","max_output_tokens":1024}`}},
		{name: "cap added to messages", limits: capped, path: "/chat/v1/messages", body: `{"model":"claude-3-5-haiku","messages":[]}`,
			want: want{status: 200, body: `{"model":"claude-3-5-haiku","messages":[],"max_tokens":1024}`}},
		{name: "cap added to an empty object", limits: capped, path: "/chat/chat/completions", body: `{}`,
			want: want{status: 200, body: `{"max_completion_tokens":1024}`}},
		{name: "cap added before white space and brace", limits: capped, path: "/chat/chat/completions", body: "{\n  \"a\": 1\n}\n",
			want: want{status: 200, body: "{\n  \"a\": 1\n,\"max_completion_tokens\":1024}\n"}},
		{name: "cap replaces null", limits: capped, path: "/chat/v1/messages", body: `{"max_tokens":null,"model":"claude"}`,
			want: want{status: 200, body: `{"max_tokens":1024,"model":"claude"}`}},
		{name: "cap added beside another member's null", limits: capped, path: "/chat/chat/completions", body: `{"max_tokens": null}`,
			want: want{status: 200, body: `{"max_tokens": null,"max_completion_tokens":1024}`}},
		{name: "cap added to a chunked body", limits: capped, path: "/chat/chat/completions", body: `{"model":"m"}`, chunked: true,
			want: want{status: 200, body: `{"model":"m","max_completion_tokens":1024}`}},
		{name: "no cap known for the path", limits: capped, path: "/chat/embeddings", body: `{"model":"m","input":"x"}`, want: want{status: 200}},
		{name: "asked within the cap", limits: capped, path: "/chat/chat/completions", body: `{"max_completion_tokens":1024}`, want: want{status: 200}},
		{name: "max_tokens counts on chat completions", limits: capped, path: "/chat/chat/completions", body: `{"max_tokens":10}`, want: want{status: 200}},
		{name: "max_tokens does not count on responses", limits: capped, path: "/chat/responses", body: `{"max_tokens":10}`,
			want: want{status: 200, body: `{"max_tokens":10,"max_output_tokens":1024}`}},
		{name: "max_tokens over the cap", limits: capped, path: "/chat/v1/messages", body: `{"max_tokens":1025}`, want: want{400, codeMaxOutputTokensExceeded, ""}},
		{name: "max_completion_tokens over the cap", limits: capped, path: "/chat/chat/completions", body: `{"max_completion_tokens":4096}`, want: want{400, codeMaxOutputTokensExceeded, ""}},
		{name: "max_output_tokens over the cap", limits: capped, path: "/chat/responses", body: `{"max_output_tokens":1e9}`, want: want{400, codeMaxOutputTokensExceeded, ""}},
		{name: "over the cap on another path", limits: capped, path: "/chat/completions", body: `{"max_tokens":2000}`, want: want{400, codeMaxOutputTokensExceeded, ""}},
		{name: "over the cap beyond float range", limits: capped, path: "/chat/responses", body: `{"max_output_tokens":1e999}`, want: want{400, codeMaxOutputTokensExceeded, ""}},
		{name: "cap as a string", limits: capped, path: "/chat/chat/completions", body: `{"max_completion_tokens":"100000"}`, want: want{400, codeInvalidRequest, ""}},
		{name: "negative cap", limits: capped, path: "/chat/chat/completions", body: `{"max_completion_tokens":-1}`, want: want{400, codeInvalidRequest, ""}},
		{name: "zero cap", limits: capped, path: "/chat/v1/messages", body: `{"max_tokens":0}`, want: want{400, codeInvalidRequest, ""}},
		{name: "negative zero cap", limits: capped, path: "/chat/v1/messages", body: `{"max_tokens":-0}`, want: want{400, codeInvalidRequest, ""}},
		{name: "whole number in another spelling", limits: capped, path: "/chat/v1/messages", body: `{"max_tokens":1.0e3}`, want: want{status: 200}},
		{name: "fractional cap", limits: capped, path: "/chat/chat/completions", body: `{"max_completion_tokens":10.5}`, want: want{400, codeInvalidRequest, ""}},
		{name: "not JSON forwarded when only output is capped", limits: capped, path: "/chat/audio/speech", body: `plain text`, want: want{status: 200}},
		{name: "broken JSON refused when output is capped", limits: capped, path: "/chat/chat/completions", body: `{"a":1,"a":2}`, want: want{400, codeInvalidRequest, ""}},
		{name: "UTF-16 JSON refused when output is capped", limits: capped, path: "/chat/chat/completions", body: "\x00{\x00}", want: want{400, codeInvalidRequest, ""}},
		{name: "BOM refused when output is capped", limits: capped, path: "/chat/chat/completions", body: "\xef\xbb\xbf{}", want: want{400, codeInvalidRequest, ""}},
		{name: "cap added to a body of chat.max_body_bytes", limits: capped, path: "/chat/chat/completions", body: `{"x":"` + strings.Repeat("x", 4096-9) + `"}`,
			want: want{status: 200, body: `{"x":"` + strings.Repeat("x", 4096-9) + `","max_completion_tokens":1024}`}},
		{name: "body over chat.max_body_bytes", limits: capped, path: "/chat/chat/completions", body: `{"x":"` + strings.Repeat("x", 5000) + `"}`, want: want{413, codeTooLarge, ""}},
		{name: "chunked body over chat.max_body_bytes", limits: capped, path: "/chat/chat/completions", body: `{"x":"` + strings.Repeat("x", 5000) + `"}`, chunked: true, want: want{413, codeTooLarge, ""}},

		{name: "all at once", limits: all, path: "/chat/chat/completions", body: chatBody, want: want{status: 200, body: chatBody[:len(chatBody)-1] + `,"max_completion_tokens":1024}`}},
		{name: "all at once, path first", limits: all, path: "/chat/v1/messages", body: `{"model":"o1"}`, want: want{403, codePathNotAllowed, ""}},
		{name: "all at once, model before cap", limits: all, path: "/chat/responses", body: `{"model":"o1","max_output_tokens":5000}`, want: want{403, codeModelNotAllowed, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(up.url)
			cfg.MaxBodyBytes = 4096
			front, _ := newTestFront(t, cfg, limitedClaims(t, tt.limits), enforceLimits(cfg.MaxBodyBytes, true))
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader
			if tt.body != "" || tt.chunked {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = unsized{body}
				}
			}
			req := newChatRequest(t, t.Context(), method, front.URL+tt.path, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, got := do(t, req)
			if tt.want.code != "" {
				wantError(t, resp, got, tt.want.status, chatCode(tt.want.code), up.url)
				if n := up.count.Load(); n != 0 {
					t.Errorf("upstream received %d requests, want none", n)
				}
				return
			}
			if resp.StatusCode != tt.want.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, got, tt.want.status)
			}
			seen := up.next(t)
			wantBody := tt.want.body
			if wantBody == "" {
				wantBody = tt.body
			}
			if seen.Body != wantBody {
				t.Errorf("upstream received body\n%q\nwant\n%q", seen.Body, wantBody)
			}
			if cl := seen.Header.Get("Content-Length"); tt.body != "" && cl != strconv.Itoa(len(seen.Body)) {
				t.Errorf("upstream Content-Length = %q for a body of %d bytes", cl, len(seen.Body))
			}
			if seen.Path != strings.TrimPrefix(tt.path, "/chat") {
				t.Errorf("upstream path = %q", seen.Path)
			}
		})
	}
}

func TestLimitsRefusalsNameTheLimits(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg := testChatConfig(up.url)
	front, _ := newTestFront(t, cfg, limitedClaims(t, `{"models":["gpt-4o-mini","claude-*"],"paths":["/chat/completions"],"max_output_tokens":256}`), enforceLimits(cfg.MaxBodyBytes, true))
	for _, tt := range []struct {
		path, body, want string
	}{
		{"/chat/files", `{}`, "this session may call only /chat/chat/completions"},
		{"/chat/chat/completions", `{"model":"gpt-4o"}`, "this session may use only the models gpt-4o-mini, claude-*"},
		{"/chat/chat/completions", `{"model":"gpt-4o-mini","max_tokens":257}`, "max_tokens asks for more output tokens than this session allows (at most 256)"},
	} {
		resp, body := do(t, newChatRequest(t, t.Context(), http.MethodPost, front.URL+tt.path, strings.NewReader(tt.body)))
		if resp.StatusCode/100 != 4 || !strings.Contains(body, tt.want) {
			t.Errorf("POST %s %s = %d %s, want a refusal saying %q", tt.path, tt.body, resp.StatusCode, body, tt.want)
		}
	}
}

// TestLimitsCopyLargeBodyOnce checks that a 1 MiB body is held in one buffer: it
// is read once into a buffer of its size, and the cap is spliced in around it.
func TestLimitsCopyLargeBodyOnce(t *testing.T) {
	const size = 1 << 20
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", size-80) + `"}]}`)
	lim, err := token.ParseLimits([]byte(`{"models":["gpt-4o-mini"],"max_output_tokens":1024}`))
	if err != nil {
		t.Fatal(err)
	}
	claims := token.Claims{ID: "jti", APIKey: testAPIKey, Limits: lim}
	gin.SetMode(gin.TestMode)
	h := enforceLimits(2<<20, true)
	run := func() *http.Request {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		req := httptest.NewRequest(http.MethodPost, "/chat/chat/completions", bytes.NewReader(body))
		c.Request = req.WithContext(token.NewContext(req.Context(), claims))
		c.Params = gin.Params{{Key: "path", Value: "/chat/completions"}}
		h(c)
		if c.IsAborted() {
			t.Fatalf("refused: %s", w.Body)
		}
		return c.Request
	}
	run() // warm the decoder pool
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req := run()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > size+size/8 {
		t.Errorf("checking a %d-byte body allocated %d bytes, want about one copy", len(body), n)
	}
	mb, ok := req.Body.(*memBody)
	if !ok {
		t.Fatalf("forwarded body is a %T", req.Body)
	}
	if len(mb.parts[0]) < size-100 || len(mb.parts[2]) != 1 || string(mb.parts[1]) != `,"max_completion_tokens":1024` {
		t.Errorf("the body is not forwarded as its buffer around the cap: parts of %d, %q, %d bytes", len(mb.parts[0]), mb.parts[1], len(mb.parts[2]))
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, req.Body); err != nil {
		t.Fatal(err)
	}
	if want := string(body[:len(body)-1]) + `,"max_completion_tokens":1024}`; out.String() != want || req.ContentLength != int64(len(want)) {
		t.Errorf("forwarded %d bytes (Content-Length %d), want %d", out.Len(), req.ContentLength, len(want))
	}
}

// BenchmarkLimitsBody is the limits step alone, in process, on a 1 KiB and a
// 1 MiB chat body: what a session with limits adds to the route.
func BenchmarkLimitsBody(b *testing.B) {
	lim, err := token.ParseLimits([]byte(`{"models":["gpt-test","claude-*"],"paths":["/chat/completions"],"max_output_tokens":1024}`))
	if err != nil {
		b.Fatal(err)
	}
	claims := token.Claims{ID: "jti", APIKey: testAPIKey, Limits: lim}
	gin.SetMode(gin.TestMode)
	h := enforceLimits(2<<20, true)
	for _, size := range []int{1 << 10, 1 << 20} {
		const head, tail = `{"model":"gpt-test","messages":[{"role":"user","content":"`, `"}],"temperature":0.2}`
		body := head + strings.Repeat("x", size-len(head)-len(tail)) + tail
		name := "body=1KiB"
		if size > 1<<10 {
			name = "body=1MiB"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			ctx := token.NewContext(b.Context(), claims)
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/chat/chat/completions", nil)
			src := strings.NewReader(body)
			for b.Loop() {
				src.Reset(body)
				req.Body, req.ContentLength = io.NopCloser(src), int64(len(body))
				c.Request = req
				c.Params = gin.Params{{Key: "path", Value: "/chat/completions"}}
				h(c)
				if c.IsAborted() || req.ContentLength != int64(size+len(`,"max_completion_tokens":1024`)) {
					b.Fatalf("refused or not capped: %s", w.Body)
				}
			}
		})
	}
}
