package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// TestChatErrorDialect checks that jwtgate's own errors on /chat/* have the OpenAI
// error shape with the codes the SDKs read, that an expired token is told apart
// from a bad one, and that the same refusals elsewhere keep the RFC 6749 shape.
func TestChatErrorDialect(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.verifierOpts = []token.VerifierOption{token.WithLeeway(0)}
	})
	good := ts.createSession(t, "").AccessToken
	expired := ts.createSession(t, `{"ttl":1}`).AccessToken
	ts.clock.advance(2 * time.Second)
	tampered := good[:len(good)-2] + "AA"
	chat := `{"messages":[{"role":"user","content":"hi"}]}`

	tests := []struct {
		name      string
		req       request
		status    int
		code      string
		typ       string
		challenge string // the WWW-Authenticate error attribute; "" for a bare challenge, "-" for none
	}{
		{"no token", request{method: "POST", path: "/chat/completions", body: chat, ctype: "application/json"},
			401, "invalid_token", "authentication_error", ""},
		{"expired", request{method: "POST", path: "/chat/completions", bearer: expired, body: chat, ctype: "application/json"},
			401, "token_expired", "authentication_error", "invalid_token"},
		{"tampered", request{method: "POST", path: "/chat/completions", bearer: tampered, body: chat, ctype: "application/json"},
			401, "invalid_token", "authentication_error", "invalid_token"},
		{"malformed header", request{method: "POST", path: "/chat/completions", headers: http.Header{"Authorization": {"Bearer a b"}}},
			400, "invalid_request", "invalid_request_error", "invalid_request"},
		{"not JSON", request{method: "POST", path: "/chat/completions", bearer: good, body: chat, ctype: "text/plain"},
			415, "invalid_request", "invalid_request_error", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, tt.req)
			body := wantError(t, res, tt.status, tt.code)
			if body.Type != tt.typ {
				t.Errorf("type = %q, want %q", body.Type, tt.typ)
			}
			if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := res.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			ch := res.header.Get("WWW-Authenticate")
			switch tt.challenge {
			case "-":
				if ch != "" {
					t.Errorf("WWW-Authenticate = %q, want none", ch)
				}
			case "":
				if ch != `Bearer realm="jwtgate"` {
					t.Errorf("WWW-Authenticate = %q, want the bare challenge", ch)
				}
			default:
				if !strings.HasPrefix(ch, `Bearer realm="jwtgate", error="`+tt.challenge+`"`) {
					t.Errorf("WWW-Authenticate = %q, want error=%q", ch, tt.challenge)
				}
			}
		})
	}

	// Off /chat the same expired token gets the RFC 6749 shape and code.
	res := ts.do(t, request{method: "GET", path: "/sessions/current", bearer: expired})
	if body := wantError(t, res, 401, "invalid_token"); body.Type != "" || body.Description != "token is expired" {
		t.Errorf("/sessions/current body = %+v, want the RFC 6749 shape", body)
	}
}

// TestEveryRefusalIsCounted checks that a refusal decided by a handler behind the
// middleware (a refresh of a session too old) goes through the middleware's path:
// counted by reason and noted in the access line, with the refusal headers.
func TestEveryRefusalIsCounted(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.issuerOpts = []token.IssuerOption{token.WithTTL(time.Hour), token.WithMaxTTL(time.Hour), token.WithMaxSessionAge(time.Hour)}
	})
	tok := ts.createSession(t, "").AccessToken
	ts.clock.advance(time.Hour + 10*time.Second)
	res := ts.do(t, request{method: http.MethodPost, path: "/sessions/refresh", bearer: tok})
	wantError(t, res, http.StatusUnauthorized, "invalid_token")
	if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if v, _ := value(scrape(t, ts), "jwtgate_token_verify_failures_total", map[string]string{"reason": "session_too_old"}); v != 1 {
		t.Errorf("verify failures {reason=session_too_old} = %v, want 1", v)
	}
	found := false
	for _, rec := range ts.logs.lines(t) {
		if rec["msg"] == "request" && rec["route"] == "/sessions/refresh" {
			found = rec["auth_failure"] == "session_too_old"
		}
	}
	if !found {
		t.Errorf("the refresh's access line does not name auth_failure session_too_old")
	}
}
