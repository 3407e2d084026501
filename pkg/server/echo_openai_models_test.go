package server_test

import (
	"net/http"
	"testing"
)

// TestEchoModels pins GET /chat/models (the OpenAI list the openai SDK's
// models.list() reads) and GET /chat/models/{id}, which describes any id the
// client asks for, as the echo answers any model name.
func TestEchoModels(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		path, want string
	}{
		{"/chat/models", `{"object":"list","data":[{"id":"jwtgate-echo","object":"model","created":1,"owned_by":"jwtgate"}]}`},
		{"/chat/models/jwtgate-echo", `{"id":"jwtgate-echo","object":"model","created":1,"owned_by":"jwtgate"}`},
		{"/chat/models/gpt-4o-mini", `{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"jwtgate"}`},
		{"/chat/models/claude-sonnet-4-5", `{"id":"claude-sonnet-4-5","object":"model","created":1,"owned_by":"jwtgate"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodGet, path: tt.path, bearer: tok})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			wantJSON(t, "model body", res.body, tt.want)
		})
	}
	if res := ts.do(t, request{method: http.MethodGet, path: "/chat/models"}); res.status != http.StatusUnauthorized {
		t.Errorf("GET /chat/models without a token = %d, want 401", res.status)
	}
}
