package server

import (
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// TestAppendJSONMatchesMarshal checks the hand-written encoders against the
// reflective one, byte for byte, including strings that need escaping.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	lim, err := token.ParseLimits([]byte(`{"models":["gpt-4o-mini","claude-*"],"paths":["/chat/completions"],"max_output_tokens":1024,"total_tokens":5}`))
	if err != nil {
		t.Fatal(err)
	}
	tricky := []string{"", "plain", `quote " and \ backslash`, "line\nbreak\ttab\x01", "zoë <b>&amp;</b> \u2028", "emoji 😀"}
	for _, s := range tricky {
		for _, v := range []appender{
			sessionResponse{SessionID: "sid-" + s, Subject: s, IssuedAt: "2026-11-26T10:00:00Z", ExpiresAt: s, APIKeyFingerprint: "0123456789abcdef"},
			sessionResponse{SessionID: "sid", Subject: s, IssuedAt: "2026-11-26T10:00:00Z", ExpiresAt: s, APIKeyFingerprint: "0123456789abcdef", Limits: lim},
			sessionResponse{SessionID: "sid", Subject: s, APIKeyFingerprint: "0123456789abcdef", Limits: lim, DPoPJKT: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" + s},
			tokenResponse{AccessToken: "a.b.c" + s, TokenType: "DPoP", ExpiresIn: 900, ExpiresAt: s},
			tokenResponse{AccessToken: "a.b.c" + s, TokenType: "Bearer", ExpiresIn: 900, ExpiresAt: s},
			tokenResponse{ExpiresIn: -1},
		} {
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.appendJSON(nil)
			if err != nil {
				t.Fatalf("appendJSON(%#v): %v", v, err)
			}
			if string(got) != string(want) {
				t.Errorf("appendJSON = %s\n      Marshal = %s", got, want)
			}
		}
	}
	if _, err := (sessionResponse{Subject: "bad \xff utf-8"}).appendJSON(nil); err == nil {
		t.Errorf("invalid UTF-8 encoded without error; respondAppender relies on the error to fall back")
	}
}
