package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func mustLimits(t testing.TB, js string) token.Limits {
	t.Helper()
	l, err := token.ParseLimits([]byte(js))
	if err != nil {
		t.Fatalf("ParseLimits(%s): %v", js, err)
	}
	return l
}

// withLimits configures the server's default and ceiling (JSON forms; "" for none).
func withLimits(t testing.TB, def, ceiling string) func(*testOptions) {
	return func(o *testOptions) {
		if def != "" {
			o.cfg.Limits.Default = mustLimits(t, def)
		}
		if ceiling != "" {
			o.cfg.Limits.Max = mustLimits(t, ceiling)
		}
	}
}

func TestCreateSessionLimits(t *testing.T) {
	const (
		def     = `{"models":["gpt-4o-mini"],"max_output_tokens":256}`
		ceiling = `{"models":["gpt-4o*","claude-*"],"paths":["/chat/completions","/v1/messages"],"max_output_tokens":1024,"total_tokens":100000}`
	)
	tests := []struct {
		name         string
		def, ceiling string
		body         string
		want         string // the effective limits; empty with wantDesc
		wantDesc     string // the start of the 400's description
	}{
		{name: "no limits anywhere", body: `{}`, want: `{}`},
		{name: "limits null", body: `{"limits":null}`, want: `{}`},
		{name: "asked, nothing configured", body: `{"limits":{"models":["gpt-4o-mini"],"max_output_tokens":512}}`,
			want: `{"models":["gpt-4o-mini"],"max_output_tokens":512}`},
		{name: "default and ceiling fill what is not asked", def: def, ceiling: ceiling, body: `{}`,
			want: `{"models":["gpt-4o-mini"],"paths":["/chat/completions","/v1/messages"],"max_output_tokens":256,"total_tokens":100000}`},
		{name: "asked beats the default", def: def, ceiling: ceiling, body: `{"limits":{"models":["claude-3-5-haiku-latest"],"max_output_tokens":1024,"total_tokens":500}}`,
			want: `{"models":["claude-3-5-haiku-latest"],"paths":["/chat/completions","/v1/messages"],"max_output_tokens":1024,"total_tokens":500}`},
		{name: "counted members are signed", body: `{"limits":{"requests_per_minute":30,"tokens_per_minute":20000,"total_tokens":200000,"concurrent_requests":2}}`,
			want: `{"requests_per_minute":30,"tokens_per_minute":20000,"total_tokens":200000,"concurrent_requests":2}`},

		{name: "over the ceiling's number", def: def, ceiling: ceiling, body: `{"limits":{"max_output_tokens":1025}}`,
			wantDesc: "limits.max_output_tokens: must be at most 1024 here"},
		{name: "model outside the ceiling", def: def, ceiling: ceiling, body: `{"limits":{"models":["gpt-4o","o1"]}}`,
			wantDesc: "limits.models[1]: is outside the models allowed here"},
		{name: "pattern wider than the ceiling's", def: def, ceiling: ceiling, body: `{"limits":{"models":["gpt-*"]}}`,
			wantDesc: "limits.models[0]: is outside"},
		{name: "path outside the ceiling", def: def, ceiling: ceiling, body: `{"limits":{"paths":["/responses"]}}`,
			wantDesc: "limits.paths[0]: is outside the paths allowed here"},
		{name: "negative", body: `{"limits":{"total_tokens":-1}}`, wantDesc: "limits.total_tokens: must be a whole number from 1"},
		{name: "zero", body: `{"limits":{"max_output_tokens":0}}`, wantDesc: "limits.max_output_tokens: must be a whole number from 1"},
		{name: "star in the middle", body: `{"limits":{"models":["gpt-*-mini"]}}`, wantDesc: "limits.models[0]: may hold * only at its end"},
		{name: "empty pattern", body: `{"limits":{"models":[""]}}`, wantDesc: "limits.models[0]: must not be empty"},
		{name: "unclean path", body: `{"limits":{"paths":["/chat/../sessions"]}}`, wantDesc: "limits.paths[0]: must be a clean path"},
		{name: "relative path", body: `{"limits":{"paths":["chat"]}}`, wantDesc: "limits.paths[0]: must be an absolute path"},
		{name: "unknown member", body: `{"limits":{"model":"gpt-4o"}}`, wantDesc: "limits: has an unknown member; accepted: models, paths,"},
		{name: "wrong type", body: `{"limits":{"models":"gpt-4o"}}`, wantDesc: "limits.models: must be a list of strings"},
		{name: "not an object", body: `{"limits":["gpt-4o"]}`, wantDesc: "limits: must be a JSON object"},
		{name: "too many", body: `{"limits":{"paths":["/a","/b","/c","/d","/e","/f","/g","/h","/i","/j","/k","/l","/m","/n","/o","/p","/q"]}}`,
			wantDesc: "limits.paths: must have at most 16 entries"},
		{name: "too long", body: `{"limits":{"models":["` + strings.Repeat("m", token.MaxLimitPatternLen+1) + `"]}}`,
			wantDesc: "limits.models[0]: must be at most 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, withLimits(t, tt.def, tt.ceiling))
			res := ts.do(t, request{method: http.MethodPost, path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}},
				body: tt.body, ctype: "application/json"})
			if tt.wantDesc != "" {
				got := wantError(t, res, http.StatusBadRequest, "invalid_request")
				if !strings.HasPrefix(got.Description, tt.wantDesc) {
					t.Errorf("error_description = %q, want it to start with %q", got.Description, tt.wantDesc)
				}
				return
			}
			if res.status != http.StatusCreated {
				t.Fatalf("status = %d, want 201 (body %s)", res.status, res.body)
			}
			tok := decodeJSON[tokenResponse](t, res.body)
			claims, err := ts.verifier.Verify(t.Context(), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if got := claims.Limits.String(); got != tt.want {
				t.Errorf("signed limits = %s, want %s", got, tt.want)
			}
			cur := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: tok.AccessToken})
			if got := string(decodeJSON[sessionResponse](t, cur.body).Limits); got != tt.want {
				t.Errorf("GET /sessions/current limits = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRefreshKeepsLimits(t *testing.T) {
	// The refresh asks for nothing and the server has no defaults: the limits
	// can only come from the presented token.
	ts := newTestServer(t)
	tok := ts.createSession(t, `{"limits":{"models":["gpt-4o-mini"],"paths":["/chat/completions"],"max_output_tokens":300,"total_tokens":9000}}`)
	res := ts.do(t, request{method: http.MethodPost, path: "/sessions/refresh", bearer: tok.AccessToken})
	if res.status != http.StatusOK {
		t.Fatalf("refresh: status %d, body %s", res.status, res.body)
	}
	fresh := decodeJSON[tokenResponse](t, res.body)
	if fresh.AccessToken == tok.AccessToken {
		t.Fatal("refresh returned the same token")
	}
	cur := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: fresh.AccessToken})
	want := `{"models":["gpt-4o-mini"],"paths":["/chat/completions"],"max_output_tokens":300,"total_tokens":9000}`
	if got := string(decodeJSON[sessionResponse](t, cur.body).Limits); got != want {
		t.Errorf("limits after refresh = %s, want %s", got, want)
	}
}

func TestNewRefusesDefaultAboveCeiling(t *testing.T) {
	ts := newTestServer(t)
	cfg := testConfig()
	cfg.Limits.Default = mustLimits(t, `{"max_output_tokens":2048}`)
	cfg.Limits.Max = mustLimits(t, `{"max_output_tokens":1024}`)
	_, err := server.New(cfg, server.Deps{Issuer: ts.issuer, Verifier: ts.verifier})
	if !errors.Is(err, token.ErrLimitAboveCeiling) || !strings.Contains(err.Error(), "limits.default") {
		t.Errorf("New = %v, want an error about limits.default wrapping ErrLimitAboveCeiling", err)
	}
}

// TestEchoObeysLimits runs a limited session against the built-in echo backend:
// the limits apply there as in front of a real upstream.
func TestEchoObeysLimits(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, `{"limits":{"models":["echo-*"],"paths":["/completions"]}}`)
	chat := func(path, body string) response {
		return ts.do(t, request{method: http.MethodPost, path: path, bearer: tok.AccessToken, body: body, ctype: "application/json"})
	}
	const msgs = `"messages":[{"role":"user","content":"hello there"}]`
	if res := chat("/chat/completions", `{"model":"echo-1",`+msgs+`}`); res.status != http.StatusOK || !strings.Contains(res.body, "hello there") {
		t.Errorf("allowed model: %d %s, want 200 with the echo", res.status, res.body)
	}
	wantError(t, chat("/chat/completions", `{"model":"gpt-4o",`+msgs+`}`), http.StatusForbidden, "model_not_allowed")
	wantError(t, chat("/chat/completions", `{`+msgs+`}`), http.StatusBadRequest, "invalid_request")
	wantError(t, chat("/chat/responses", `{"model":"echo-1"}`), http.StatusForbidden, "path_not_allowed")
}
