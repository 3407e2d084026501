package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// received is one request a recording upstream got.
type received struct {
	Method, Path  string
	ContentLength string
	Body          string
}

// recordingUpstream is a loopback chat backend that answers every request with a
// small JSON body and keeps what it received.
type recordingUpstream struct {
	URL  string
	mu   sync.Mutex
	seen []received
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, received{Method: r.Method, Path: r.URL.Path, ContentLength: r.Header.Get("Content-Length"), Body: string(body)})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"up","object":"chat.completion","choices":[]}`)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// take returns what the upstream received since the last call.
func (u *recordingUpstream) take() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.seen
	u.seen = nil
	return out
}

// TestSessionLimits runs the session-limits flow against the binary: an extension
// creates a session for one model with capped answers, and what the UI does with
// the token reaches the upstream only within those limits.
func TestSessionLimits(t *testing.T) {
	up := newRecordingUpstream(t)
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_UPSTREAM_URL=" + up.URL + "/v1",
		"JWTGATE_LIMITS_DEFAULT_MAX_OUTPUT_TOKENS=512",
		"JWTGATE_LIMITS_MAX_MAX_OUTPUT_TOKENS=2048",
		"JWTGATE_LIMITS_MAX_MODELS=gpt-4o*,claude-*",
	})
	create := func(body string) *response {
		return s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}, Body: body})
	}

	// The extension asks for more than the ceiling: refused, naming the member.
	for body, member := range map[string]string{
		`{"limits":{"max_output_tokens":4096}}`:     "limits.max_output_tokens",
		`{"limits":{"models":["o1"]}}`:              "limits.models[0]",
		`{"limits":{"models":["gpt-*-mini"]}}`:      "limits.models[0]",
		`{"limits":{"paths":["/chat/../admin"]}}`:   "limits.paths[0]",
		`{"limits":{"requests_per_minute":-1}}`:     "limits.requests_per_minute",
		`{"limits":{"max_output_tokens":"1024"}}`:   "limits.max_output_tokens",
		`{"limits":{"models":["gpt-4o"],"x":true}}`: "limits: has an unknown member",
	} {
		resp := create(body)
		var e errorBody
		resp.JSON(t, &e)
		if resp.Status != http.StatusBadRequest || e.Error != "invalid_request" || !strings.HasPrefix(e.ErrorDescription, member) {
			t.Errorf("POST /sessions %s = %d %s, want 400 invalid_request naming %s", body, resp.Status, resp.Body, member)
		}
	}

	// One model, chat only, answers capped at 1024 tokens.
	sess := checkSession(t, create(`{"limits":{"models":["gpt-4o-mini"],"paths":["/chat/completions","/responses"],"max_output_tokens":1024,"total_tokens":50000}}`), http.StatusCreated)
	tok := sess.AccessToken
	wantLimits := `{"models":["gpt-4o-mini"],"paths":["/chat/completions","/responses"],"max_output_tokens":1024,"total_tokens":50000}`
	if p := tokenPayload(t, tok); !strings.Contains(p, `"lim":`+wantLimits) {
		t.Errorf("token payload %s lacks lim %s", p, wantLimits)
	}
	checkCurrentLimits(t, s, tok, wantLimits)

	chat := func(tok, path, body string) *response {
		return s.do(t, request{Method: http.MethodPost, Path: path, Token: tok, Body: body})
	}
	refused := func(resp *response, status int, code string) {
		t.Helper()
		var e errorBody
		resp.JSON(t, &e)
		if resp.Status != status || e.Error != code || e.Type == "" {
			t.Errorf("status %d body %s, want %d with code %s in the OpenAI shape", resp.Status, resp.Body, status, code)
		}
		if got := up.take(); len(got) != 0 {
			t.Errorf("the upstream received %d requests, want none: %+v", len(got), got)
		}
	}
	refused(chat(tok, "/chat/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`), http.StatusForbidden, "model_not_allowed")
	refused(chat(tok, "/chat/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`), http.StatusBadRequest, "invalid_request")
	refused(chat(tok, "/chat/files", `{"model":"gpt-4o-mini"}`), http.StatusForbidden, "path_not_allowed")
	refused(s.do(t, request{Method: http.MethodGet, Path: "/chat/models", Token: tok}), http.StatusForbidden, "path_not_allowed")
	refused(chat(tok, "/chat/chat/completions", `{"model":"gpt-4o-mini","max_completion_tokens":4096}`), http.StatusBadRequest, "max_output_tokens_exceeded")
	refused(chat(tok, "/chat/responses", `{"model":"gpt-4o-mini","max_output_tokens":1025}`), http.StatusBadRequest, "max_output_tokens_exceeded")

	// Allowed: forwarded byte for byte, the cap added where the body asks for none.
	body := "{\"model\":\"gpt-4o-mini\", \"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 \xf0\x9f\x98\x80 \\\"q\\\"\"}],\n\t\"temperature\":1.0e0,\"n\":1}"
	for _, tt := range []struct {
		path, body, want, wantPath string
	}{
		{"/chat/chat/completions", body, body[:len(body)-1] + `,"max_completion_tokens":1024}`, "/v1/chat/completions"},
		{"/chat/chat/completions", `{"model":"gpt-4o-mini","max_tokens":100}`, `{"model":"gpt-4o-mini","max_tokens":100}`, "/v1/chat/completions"},
		{"/chat/responses", `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":1024}`, `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":1024}`, "/v1/responses"},
		{"/chat/responses", `{"model":"gpt-4o-mini","input":"hi"}`, `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":1024}`, "/v1/responses"},
	} {
		if resp := chat(tok, tt.path, tt.body); resp.Status != http.StatusOK {
			t.Errorf("POST %s = %d %s, want 200", tt.path, resp.Status, resp.Body)
			continue
		}
		got := up.take()
		if len(got) != 1 {
			t.Fatalf("the upstream received %d requests, want 1", len(got))
		}
		if got[0].Path != tt.wantPath || got[0].Body != tt.want || got[0].ContentLength != strconv.Itoa(len(tt.want)) {
			t.Errorf("upstream received %s %q (Content-Length %s), want %s %q", got[0].Path, got[0].Body, got[0].ContentLength, tt.wantPath, tt.want)
		}
	}

	// A refresh keeps the limits.
	refresh := s.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok})
	fresh := checkSession(t, refresh, http.StatusOK).AccessToken
	checkCurrentLimits(t, s, fresh, wantLimits)
	refused(chat(fresh, "/chat/chat/completions", `{"model":"claude-3-5-haiku"}`), http.StatusForbidden, "model_not_allowed")

	// A lim claim widened after signing is refused, and nothing is forwarded.
	parts := strings.Split(tok, ".")
	wider := strings.Replace(tokenPayload(t, tok), `"models":["gpt-4o-mini"]`, `"models":["*"]`, 1)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(wider)) + "." + parts[2]
	refused(chat(forged, "/chat/chat/completions", `{"model":"o1"}`), http.StatusUnauthorized, "invalid_token")

	// A session that asks for nothing gets the defaults, then the ceilings.
	plain := checkSession(t, create(""), http.StatusCreated).AccessToken
	checkCurrentLimits(t, s, plain, `{"models":["gpt-4o*","claude-*"],"max_output_tokens":512}`)
	if resp := chat(plain, "/chat/v1/messages", `{"model":"claude-3-5-haiku","messages":[]}`); resp.Status != http.StatusOK {
		t.Fatalf("POST /chat/v1/messages = %d %s", resp.Status, resp.Body)
	}
	if got := up.take(); len(got) != 1 || got[0].Body != `{"model":"claude-3-5-haiku","messages":[],"max_tokens":512}` {
		t.Errorf("upstream received %+v, want the Messages body with max_tokens 512", got)
	}
}

func checkCurrentLimits(t *testing.T, s *server, tok, want string) {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok})
	var cur struct {
		Limits json.RawMessage `json:"limits"`
	}
	resp.JSON(t, &cur)
	if resp.Status != http.StatusOK || string(cur.Limits) != want {
		t.Errorf("GET /sessions/current = %d, limits %s; want %s", resp.Status, cur.Limits, want)
	}
}

// TestAllowedPathsAfterChat checks the README's example: chat.allowed_paths are
// matched against the path after /chat, whatever the upstream's base path.
func TestAllowedPathsAfterChat(t *testing.T) {
	up := newRecordingUpstream(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_UPSTREAM_URL=" + up.URL + "/api",
		"JWTGATE_CHAT_ALLOWED_PATHS=/messages",
	})
	tok := s.createSession(t, newAPIKey(t)).AccessToken
	if resp := s.do(t, request{Method: http.MethodPost, Path: "/chat/messages", Token: tok, Body: `{}`}); resp.Status != http.StatusOK {
		t.Errorf("POST /chat/messages = %d %s, want 200", resp.Status, resp.Body)
	}
	if got := up.take(); len(got) != 1 || got[0].Path != "/api/messages" {
		t.Errorf("upstream received %+v, want one request to /api/messages", got)
	}
	if resp := s.do(t, request{Method: http.MethodPost, Path: "/chat/files", Token: tok, Body: `{}`}); resp.Status != http.StatusNotFound {
		t.Errorf("POST /chat/files = %d %s, want 404", resp.Status, resp.Body)
	}
	if got := up.take(); len(got) != 0 {
		t.Errorf("upstream received %+v, want nothing", got)
	}
}
