package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestCORSEndToEnd configures CORS through JWTGATE_CORS_ALLOWED_ORIGINS, as the
// README's "Browser and webview UIs" section does, and speaks to the binary as a
// browser on a VS Code webview would: a preflight before the SDK's POST, then
// the POST itself, and a preflight from an origin that is not allowed.
func TestCORSEndToEnd(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
		"JWTGATE_CORS_ALLOWED_ORIGINS=vscode-webview://*, https://app.example",
		"JWTGATE_CORS_ALLOWED_HEADERS=x-trace-id",
	})
	const origin = "vscode-webview://1a2b3c4d5e6f"

	pre := s.do(t, request{Method: http.MethodOptions, Path: "/chat/completions", Header: map[string]string{
		"Origin":                         origin,
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,content-type,x-stainless-os,x-stainless-retry-count,x-trace-id",
	}})
	if pre.Status != http.StatusNoContent {
		t.Fatalf("preflight = %d, want 204; body %s", pre.Status, pre.Body)
	}
	if got := pre.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("preflight Access-Control-Allow-Origin = %q, want %q", got, origin)
	}
	allow := strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "content-type", "x-api-key", "dpop", "x-stainless-os", "x-stainless-retry-count", "x-trace-id"} {
		if !strings.Contains(allow, h) {
			t.Errorf("Access-Control-Allow-Headers = %q, want %s", allow, h)
		}
	}
	if got := pre.Header.Get("Access-Control-Max-Age"); got != "600" {
		t.Errorf("Access-Control-Max-Age = %q, want 600 (the 10m default)", got)
	}
	if !strings.Contains(pre.Header.Get("Vary"), "Origin") {
		t.Errorf("preflight Vary = %q, want Origin", pre.Header.Get("Vary"))
	}

	tok := s.createSession(t, apiKey).AccessToken
	resp := s.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok,
		Header: map[string]string{"Origin": origin},
		Body:   `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`})
	if resp.Status != http.StatusOK {
		t.Fatalf("POST /chat/completions = %d; body %s", resp.Status, resp.Body)
	}
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, origin)
	}
	expose := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"www-authenticate", "x-request-id", "retry-after", "dpop-nonce", "x-ratelimit-remaining-requests"} {
		if !strings.Contains(expose, h) {
			t.Errorf("Access-Control-Expose-Headers = %q, want %s", expose, h)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("Access-Control-Allow-Credentials sent")
	}

	refused := s.do(t, request{Method: http.MethodOptions, Path: "/sessions", Header: map[string]string{
		"Origin":                        "https://evil.example",
		"Access-Control-Request-Method": "POST",
	}})
	if refused.Status != http.StatusForbidden {
		t.Errorf("preflight from an origin not allowed = %d, want 403", refused.Status)
	}
	for k := range refused.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("refused preflight carries %s: %q", k, refused.Header.Values(k))
		}
	}
	var e errorBody
	refused.JSON(t, &e)
	if e.Error != "invalid_request" {
		t.Errorf("refused preflight body = %s, want error invalid_request", refused.Body)
	}
}

// TestCORSBadOriginStopsStartUp: a bare "*" is refused at start-up with an error
// that names the key and the entry.
func TestCORSBadOriginStopsStartUp(t *testing.T) {
	for _, tt := range []struct{ value, entry string }{
		{value: "https://app.example,*", entry: `"*"`},
		{value: "https://app.example/", entry: `"https://app.example/"`},
	} {
		t.Run(tt.value, func(t *testing.T) {
			res := runCLI(t, []string{"JWTGATE_CORS_ALLOWED_ORIGINS=" + tt.value}, "", "serve", "--addr", "127.0.0.1:0")
			logs := res.Stdout + res.Stderr
			if res.ExitCode == 0 {
				t.Fatalf("jwtgate serve exited 0 with cors.allowed_origins=%s:\n%s", tt.value, logs)
			}
			if !strings.Contains(logs, "cors.allowed_origins[") || !strings.Contains(logs, tt.entry) {
				t.Errorf("output does not name cors.allowed_origins and %s:\n%s", tt.entry, logs)
			}
		})
	}
}
